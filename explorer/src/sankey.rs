//! A flow (Sankey) diagram laid out in columns: each node's height and each
//! band's width are proportional to the amount, on one scale for the whole
//! picture, so that what enters a node visibly equals what leaves it. The
//! template draws the result as inline SVG.

/// A node to place: its column, label and amount (fen).
#[derive(Clone, Debug)]
pub struct NodeSpec {
    /// Column, from 0 (left).
    pub column: usize,
    /// Label.
    pub label: String,
    /// Amount (fen).
    pub value: u64,
    /// CSS class.
    pub class: &'static str,
}

/// A placed node.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Height.
    pub h: f32,
    /// Label.
    pub label: String,
    /// The amount as text.
    pub amount: String,
    /// Where the label goes.
    pub label_x: f32,
    /// Label baseline.
    pub label_y: f32,
    /// `start` or `end`.
    pub anchor: &'static str,
    /// CSS class.
    pub class: &'static str,
}

/// A placed band between two nodes.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    /// SVG path data of the band.
    pub d: String,
    /// Tooltip.
    pub title: String,
    /// CSS class (the source node's).
    pub class: &'static str,
}

/// The laid-out diagram.
#[derive(Clone, Debug, PartialEq)]
pub struct Sankey {
    /// Picture width.
    pub width: u32,
    /// Picture height.
    pub height: u32,
    /// Node width.
    pub node_width: f32,
    /// Nodes.
    pub nodes: Vec<Node>,
    /// Bands, drawn under the nodes.
    pub links: Vec<Link>,
}

const WIDTH: f32 = 960.0;
const HEIGHT: f32 = 360.0;
const NODE_W: f32 = 14.0;
const GAP: f32 = 14.0;
const PAD: f32 = 8.0;
/// Room on the right for the last column's labels.
const LABEL_ROOM: f32 = 250.0;

/// Lays out nodes and flows `(from, to, fen)` (indexes into `nodes`; flows
/// go from one column to the next). Zero amounts are left out; `None` if
/// nothing remains to draw.
pub fn layout(
    nodes: &[NodeSpec],
    flows: &[(usize, usize, u64)],
    amount: impl Fn(u64) -> String,
) -> Option<Sankey> {
    let columns = nodes.iter().map(|n| n.column + 1).max()?;
    let visible: Vec<bool> = nodes.iter().map(|n| n.value > 0).collect();
    // One scale for all: the fullest column fills the height.
    let mut scale = f32::INFINITY;
    for c in 0..columns {
        let members: Vec<&NodeSpec> = nodes
            .iter()
            .zip(&visible)
            .filter(|(n, v)| **v && n.column == c)
            .map(|(n, _)| n)
            .collect();
        let total: u64 = members.iter().map(|n| n.value).sum();
        if total == 0 {
            continue;
        }
        let room = HEIGHT - 2.0 * PAD - GAP * (members.len().saturating_sub(1)) as f32;
        scale = scale.min(room.max(20.0) / total as f32);
    }
    if !scale.is_finite() {
        return None;
    }
    let step = if columns > 1 {
        (WIDTH - 2.0 * PAD - NODE_W - LABEL_ROOM) / (columns - 1) as f32
    } else {
        0.0
    };
    let mut placed: Vec<Option<Node>> = vec![None; nodes.len()];
    let mut next_y = vec![PAD; columns];
    for (i, n) in nodes.iter().enumerate() {
        if !visible[i] {
            continue;
        }
        let x = PAD + step * n.column as f32;
        let h = (n.value as f32 * scale).max(1.0);
        let y = next_y[n.column];
        next_y[n.column] = y + h + GAP;
        placed[i] = Some(Node {
            x,
            y,
            h,
            label: n.label.clone(),
            amount: amount(n.value),
            label_x: x + NODE_W + 6.0,
            label_y: y + h / 2.0,
            anchor: "start",
            class: n.class,
        });
    }
    let mut out_used = vec![0.0f32; nodes.len()];
    let mut in_used = vec![0.0f32; nodes.len()];
    let mut links = Vec::new();
    for &(from, to, value) in flows {
        let (Some(Some(a)), Some(Some(b))) = (placed.get(from), placed.get(to)) else {
            continue;
        };
        if value == 0 {
            continue;
        }
        let w = value as f32 * scale;
        let x0 = a.x + NODE_W;
        let y0 = a.y + out_used[from];
        let x1 = b.x;
        let y1 = b.y + in_used[to];
        out_used[from] += w;
        in_used[to] += w;
        let xm = (x0 + x1) / 2.0;
        links.push(Link {
            d: format!(
                "M{x0:.1},{y0:.1}C{xm:.1},{y0:.1} {xm:.1},{y1:.1} {x1:.1},{y1:.1}L{x1:.1},{:.1}C{xm:.1},{:.1} {xm:.1},{:.1} {x0:.1},{:.1}Z",
                y1 + w,
                y1 + w,
                y0 + w,
                y0 + w
            ),
            title: format!("{} → {}: {}", a.label, b.label, amount(value)),
            class: nodes[from].class,
        });
    }
    let height = next_y.iter().copied().fold(0.0f32, f32::max).max(40.0) - GAP + PAD;
    Some(Sankey {
        width: WIDTH as u32,
        height: height.ceil() as u32,
        node_width: NODE_W,
        nodes: placed.into_iter().flatten().collect(),
        links,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(column: usize, label: &str, value: u64) -> NodeSpec {
        NodeSpec {
            column,
            label: label.into(),
            value,
            class: "n",
        }
    }

    #[test]
    fn bands_fill_their_nodes_exactly() {
        let nodes = [
            spec(0, "public", 300),
            spec(0, "grant", 100),
            spec(1, "campaign", 400),
            spec(2, "meals", 250),
            spec(2, "unspent", 150),
            spec(2, "nothing", 0),
        ];
        let flows = [
            (0, 2, 300),
            (1, 2, 100),
            (2, 3, 250),
            (2, 4, 150),
            (2, 5, 0),
        ];
        let s = layout(&nodes, &flows, |v| v.to_string()).unwrap();
        assert_eq!(s.nodes.len(), 5, "zero-valued nodes are left out");
        assert_eq!(s.links.len(), 4);
        // The campaign node's height is the sum of the bands entering it.
        let campaign = &s.nodes[2];
        let scale = campaign.h / 400.0;
        assert!((s.nodes[0].h - 300.0 * scale).abs() < 0.01);
        assert!((s.nodes[3].h + s.nodes[4].h - campaign.h).abs() < 0.01);
        assert!(s.links[0].title.contains("public → campaign: 300"));
        // Labels sit to the right of their nodes, inside the picture.
        assert!(s
            .nodes
            .iter()
            .all(|n| n.label_x > n.x && n.label_x < s.width as f32));
    }

    #[test]
    fn nothing_to_draw_is_none() {
        assert!(layout(&[spec(0, "a", 0)], &[], |v| v.to_string()).is_none());
        assert!(layout(&[], &[], |v| v.to_string()).is_none());
    }
}
