//! The engine's host actor: turns each request the consensus engine makes
//! of the application into an [`AppMsg`] on the channel the application
//! loop reads, and carries the application's answer back.
//!
//! The node wires the engine itself (rather than through the channel
//! crate's `start_engine`) so that consensus runs over the node's own
//! permissioned network (`crate::p2p`); this actor is the application's
//! side of that wiring.

use malachitebft_app_channel::app::engine::host::HostMsg;
use malachitebft_app_channel::AppMsg;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::{mpsc, oneshot};

use super::context::CharityContext;

type Ctx = CharityContext;

/// Forwards the engine's requests to the application loop.
pub struct Host {
    app: mpsc::Sender<AppMsg<Ctx>>,
}

/// Starts the host actor; returns it and the channel the application reads.
pub async fn spawn(
    capacity: usize,
) -> Result<(ActorRef<HostMsg<Ctx>>, mpsc::Receiver<AppMsg<Ctx>>), ractor::SpawnErr> {
    let (app, rx) = mpsc::channel(capacity);
    let (actor, _) = Actor::spawn(None, Host { app }, ()).await?;
    Ok((actor, rx))
}

impl Host {
    /// Sends `msg` to the application and waits for its answer.
    async fn ask<T>(
        &self,
        msg: impl FnOnce(oneshot::Sender<T>) -> AppMsg<Ctx>,
    ) -> Result<T, ActorProcessingErr> {
        let (reply, answer) = oneshot::channel();
        self.app.send(msg(reply)).await?;
        Ok(answer.await?)
    }

    async fn forward(&self, msg: HostMsg<Ctx>) -> Result<(), ActorProcessingErr> {
        match msg {
            HostMsg::ConsensusReady { reply_to } => {
                let start = self.ask(|reply| AppMsg::ConsensusReady { reply }).await?;
                reply_to.send(start)?;
            }
            HostMsg::StartedRound {
                height,
                round,
                proposer,
                role,
                reply_to,
            } => {
                let (reply_value, undecided) = oneshot::channel();
                self.app
                    .send(AppMsg::StartedRound {
                        height,
                        round,
                        proposer,
                        role,
                        reply_value,
                    })
                    .await?;
                // The application may take its time to look up values it
                // kept for this round; other requests go on meanwhile.
                tokio::spawn(async move {
                    if let Ok(values) = undecided.await {
                        if let Err(e) = reply_to.send(values) {
                            tracing::debug!(%e, "the engine no longer waits for this round's values");
                        }
                    }
                });
            }
            HostMsg::GetValue {
                height,
                round,
                timeout,
                reply_to,
            } => {
                let value = self
                    .ask(|reply| AppMsg::GetValue {
                        height,
                        round,
                        timeout,
                        reply,
                    })
                    .await?;
                reply_to.send(value)?;
            }
            HostMsg::ExtendVote {
                height,
                round,
                value_id,
                reply_to,
            } => {
                let extension = self
                    .ask(|reply| AppMsg::ExtendVote {
                        height,
                        round,
                        value_id,
                        reply,
                    })
                    .await?;
                reply_to.send(extension)?;
            }
            HostMsg::VerifyVoteExtension {
                height,
                round,
                value_id,
                extension,
                reply_to,
            } => {
                let verdict = self
                    .ask(|reply| AppMsg::VerifyVoteExtension {
                        height,
                        round,
                        value_id,
                        extension,
                        reply,
                    })
                    .await?;
                reply_to.send(verdict)?;
            }
            HostMsg::RestreamValue {
                height,
                round,
                valid_round,
                address,
                value_id,
            } => {
                self.app
                    .send(AppMsg::RestreamProposal {
                        height,
                        round,
                        valid_round,
                        address,
                        value_id,
                    })
                    .await?;
            }
            HostMsg::GetHistoryMinHeight { reply_to } => {
                let min = self
                    .ask(|reply| AppMsg::GetHistoryMinHeight { reply })
                    .await?;
                reply_to.send(min)?;
            }
            HostMsg::ReceivedProposalPart {
                from,
                part,
                reply_to,
            } => {
                // The engine hears back only once a whole value is assembled.
                let complete = self
                    .ask(|reply| AppMsg::ReceivedProposalPart { from, part, reply })
                    .await?;
                if let Some(value) = complete {
                    reply_to.send(value)?;
                }
            }
            HostMsg::GetValidatorSet { height, reply_to } => {
                let set = self
                    .ask(|reply| AppMsg::GetValidatorSet { height, reply })
                    .await?;
                reply_to.send(set)?;
            }
            HostMsg::Decided {
                certificate,
                extensions,
                reply_to,
            } => {
                let next = self
                    .ask(|reply| AppMsg::Decided {
                        certificate,
                        extensions,
                        reply,
                    })
                    .await?;
                reply_to.send(next)?;
            }
            HostMsg::GetDecidedValue { height, reply_to } => {
                let value = self
                    .ask(|reply| AppMsg::GetDecidedValue { height, reply })
                    .await?;
                reply_to.send(value)?;
            }
            HostMsg::ProcessSyncedValue {
                height,
                round,
                proposer,
                value_bytes,
                reply_to,
            } => {
                let value = self
                    .ask(|reply| AppMsg::ProcessSyncedValue {
                        height,
                        round,
                        proposer,
                        value_bytes,
                        reply,
                    })
                    .await?;
                match value {
                    Some(value) => reply_to.send(value)?,
                    None => tracing::warn!(%height, "a synced value did not decode; dropped"),
                }
            }
        }
        Ok(())
    }
}

#[ractor::async_trait]
impl Actor for Host {
    type Msg = HostMsg<Ctx>;
    type State = ();
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        _args: (),
    ) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        _state: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        // A failed exchange (the application stopped, the engine stopped
        // waiting) is logged; the actor keeps serving the next request.
        if let Err(e) = self.forward(msg).await {
            tracing::error!(%e, "a request from the engine went unanswered");
        }
        Ok(())
    }
}
