//! Three-way JSON merge for save conflicts.
//!
//! base = the version both sides started from, client = the write being made, server =
//! the slot's current version. Objects merge key by key; any other value (including
//! arrays, which are ordered game data such as inventories) is taken whole. A path that
//! both sides changed to different values is a conflict; `prefer` picks the winner.

use serde_json::{Map, Value};

use aethex_protocol::saves::{MergeConflict, MergePrefer};

pub struct Merged {
    pub value: Value,
    pub conflicts: Vec<MergeConflict>,
}

pub fn merge3(base: &Value, client: &Value, server: &Value, prefer: MergePrefer) -> Merged {
    let mut conflicts = Vec::new();
    let value = merge_at(String::new(), Some(base), Some(client), Some(server), prefer, &mut conflicts).unwrap_or(Value::Null);
    Merged { value, conflicts }
}

/// Merges one path; `None` means "absent" (deleted or never there).
fn merge_at(
    path: String,
    base: Option<&Value>,
    client: Option<&Value>,
    server: Option<&Value>,
    prefer: MergePrefer,
    conflicts: &mut Vec<MergeConflict>,
) -> Option<Value> {
    if client == server {
        return client.cloned();
    }
    if client == base {
        return server.cloned();
    }
    if server == base {
        return client.cloned();
    }
    if let (Some(Value::Object(c)), Some(Value::Object(s))) = (client, server) {
        let empty = Map::new();
        let b = match base {
            Some(Value::Object(b)) => b,
            _ => &empty,
        };
        let mut keys: Vec<&String> = b.keys().chain(c.keys()).chain(s.keys()).collect();
        keys.sort();
        keys.dedup();
        let mut out = Map::new();
        for k in keys {
            let child = format!("{path}/{}", k.replace('~', "~0").replace('/', "~1"));
            if let Some(v) = merge_at(child, b.get(k), c.get(k), s.get(k), prefer, conflicts) {
                out.insert(k.clone(), v);
            }
        }
        return Some(Value::Object(out));
    }
    conflicts.push(MergeConflict {
        path: if path.is_empty() { "/".into() } else { path },
        base: base.cloned(),
        client: client.cloned(),
        server: server.cloned(),
    });
    match prefer {
        MergePrefer::Client => client.cloned(),
        MergePrefer::Server => server.cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn disjoint_changes_merge_cleanly() {
        let base = json!({"player": {"level": 5, "xp": 100}, "settings": {"volume": 0.8}});
        let client = json!({"player": {"level": 6, "xp": 100}, "settings": {"volume": 0.8}});
        let server = json!({"player": {"level": 5, "xp": 100}, "settings": {"volume": 0.5}, "new": true});
        let m = merge3(&base, &client, &server, MergePrefer::Client);
        assert!(m.conflicts.is_empty());
        assert_eq!(m.value, json!({"player": {"level": 6, "xp": 100}, "settings": {"volume": 0.5}, "new": true}));
    }

    #[test]
    fn deletions_merge() {
        let base = json!({"a": 1, "b": 2});
        let client = json!({"a": 1});
        let server = json!({"a": 1, "b": 2, "c": 3});
        let m = merge3(&base, &client, &server, MergePrefer::Client);
        assert!(m.conflicts.is_empty());
        assert_eq!(m.value, json!({"a": 1, "c": 3}));
    }

    #[test]
    fn same_path_changed_both_ways_is_a_conflict() {
        let base = json!({"player": {"level": 5}, "inventory": ["sword"]});
        let client = json!({"player": {"level": 6}, "inventory": ["sword", "shield"]});
        let server = json!({"player": {"level": 7}, "inventory": ["sword"]});
        let m = merge3(&base, &client, &server, MergePrefer::Server);
        assert_eq!(m.conflicts.len(), 1);
        assert_eq!(m.conflicts[0].path, "/player/level");
        assert_eq!(m.conflicts[0].client, Some(json!(6)));
        assert_eq!(m.conflicts[0].server, Some(json!(7)));
        assert_eq!(m.value, json!({"player": {"level": 7}, "inventory": ["sword", "shield"]}));
        let m = merge3(&base, &client, &server, MergePrefer::Client);
        assert_eq!(m.value["player"]["level"], json!(6));
    }

    #[test]
    fn delete_versus_edit_is_a_conflict() {
        let base = json!({"quest": {"step": 1}});
        let client = json!({});
        let server = json!({"quest": {"step": 2}});
        let m = merge3(&base, &client, &server, MergePrefer::Server);
        assert_eq!(m.conflicts.len(), 1);
        assert_eq!(m.conflicts[0].path, "/quest");
        assert_eq!(m.value, json!({"quest": {"step": 2}}));
    }

    #[test]
    fn keys_with_slashes_are_escaped_in_paths() {
        let base = json!({"a/b": 1});
        let m = merge3(&base, &json!({"a/b": 2}), &json!({"a/b": 3}), MergePrefer::Client);
        assert_eq!(m.conflicts[0].path, "/a~1b");
    }
}
