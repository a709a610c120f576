//! Organisations and validators: `register_org`, `update_org`, `set_validators`.

use super::*;

impl<R: KvRead> Executor<'_, R> {
    pub(super) fn register_org(
        &mut self,
        org: &OrgRecord,
        kind: &'static str,
        id: Hash,
        k: &RegisterOrg,
    ) -> Result<(), ExecError> {
        if org.role != OrgRole::Regulator {
            return Err(role_error(kind, "a regulator", org).into());
        }
        if self.org(&k.org_id)?.is_some() {
            return Err(TxError::OrgExists {
                org_id: k.org_id.clone(),
            }
            .into());
        }
        for key in &k.keys {
            if let Some(owner) = self.ov.key_owners.get(self.kv, &key_owner(key))? {
                return Err(TxError::KeyInUse {
                    key: *key,
                    org_id: owner.clone(),
                }
                .into());
            }
        }
        let mut keys = k.keys.clone();
        keys.sort();
        for key in &keys {
            self.ov.key_owners.put(key_owner(key), k.org_id.clone());
        }
        self.ov.orgs.put(
            key_org(&k.org_id),
            OrgRecord {
                org_id: k.org_id.clone(),
                name: k.name.clone(),
                role: k.role,
                public_fundraising: k.public_fundraising,
                region: k.region.clone(),
                status: OrgStatus::Active,
                keys,
                registered_height: self.height,
                registered_tx: Some(id),
            },
        );
        Ok(())
    }

    pub(super) fn update_org(
        &mut self,
        org: &OrgRecord,
        kind: &'static str,
        k: &UpdateOrg,
    ) -> Result<(), ExecError> {
        if org.role != OrgRole::Regulator {
            return Err(role_error(kind, "a regulator", org).into());
        }
        let Some(mut target) = self.org(&k.org_id)? else {
            return Err(TxError::UnknownOrg {
                org_id: k.org_id.clone(),
            }
            .into());
        };
        let remove = k.remove_keys.clone().unwrap_or_default();
        let add = k.add_keys.clone().unwrap_or_default();
        for key in &remove {
            if !target.keys.contains(key) {
                return Err(TxError::UnknownKey {
                    key: *key,
                    org_id: k.org_id.clone(),
                }
                .into());
            }
        }
        for key in &add {
            if let Some(owner) = self.ov.key_owners.get(self.kv, &key_owner(key))? {
                return Err(TxError::KeyInUse {
                    key: *key,
                    org_id: owner.clone(),
                }
                .into());
            }
        }
        target.keys.retain(|x| !remove.contains(x));
        target.keys.extend(add.iter().copied());
        target.keys.sort();
        if target.keys.is_empty() {
            return Err(TxError::NoKeysLeft {
                org_id: k.org_id.clone(),
            }
            .into());
        }
        for key in &remove {
            self.ov.key_owners.delete(key_owner(key));
        }
        for key in &add {
            self.ov.key_owners.put(key_owner(key), k.org_id.clone());
        }
        target.status = k.status;
        if let Some(pf) = k.public_fundraising {
            target.public_fundraising = pf;
        }
        self.ov.orgs.put(key_org(&k.org_id), target);
        Ok(())
    }

    pub(super) fn set_validators(
        &mut self,
        org: &OrgRecord,
        kind: &'static str,
        k: &SetValidators,
    ) -> Result<(), ExecError> {
        if org.role != OrgRole::Regulator {
            return Err(role_error(kind, "a regulator", org).into());
        }
        for v in &k.validators {
            match self.org(&v.org_id)? {
                None => {
                    return Err(TxError::UnknownOrg {
                        org_id: v.org_id.clone(),
                    }
                    .into())
                }
                Some(o) if o.status != OrgStatus::Active => {
                    return Err(TxError::OrgNotActive {
                        org_id: o.org_id,
                        status: o.status.as_str(),
                    }
                    .into())
                }
                Some(_) => {}
            }
        }
        let set = ValidatorSet::new(k.validators.clone())?;
        self.ov.raw.put(
            Key::new(schema::VALIDATORS).u64(self.height + 1).build(),
            encode_record(&set),
        );
        self.next_validators = Some(set);
        Ok(())
    }
}
