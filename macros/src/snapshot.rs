//! Expansion snapshots: each `tests/expand/NAME.rs` of the workspace, with its
//! `#[event_stream]` and `#[json_route]` items expanded and pretty-printed, must equal `NAME.expanded.rs`.
//! Run with `TIDINGS_BLESS=1` to rewrite the snapshots after a deliberate change, and review
//! the diff.

use std::fs;
use std::path::Path;

use quote::ToTokens;

fn expand_file(source: &str) -> String {
    let file: syn::File = syn::parse_str(source).expect("snapshot input parses");
    let mut items = Vec::new();
    for mut item in file.items {
        let attrs = match &mut item {
            syn::Item::Enum(item) => &mut item.attrs,
            syn::Item::Fn(item) => &mut item.attrs,
            _ => {
                items.push(item);
                continue;
            }
        };
        let macros = ["event_stream", "json_route"];
        let Some(index) = attrs
            .iter()
            .position(|a| macros.iter().any(|name| a.path().is_ident(name)))
        else {
            items.push(item);
            continue;
        };
        let attr = attrs.remove(index);
        let is_json_route = attr.path().is_ident("json_route");
        let args = match attr.meta {
            syn::Meta::List(list) => list.tokens,
            _ => proc_macro2::TokenStream::new(),
        };
        let expanded = if is_json_route {
            crate::json_route2(args, item.into_token_stream())
        } else {
            crate::event_stream2(args, item.into_token_stream())
        };
        let expanded: syn::File = syn::parse2(expanded).expect("expansion parses");
        items.extend(expanded.items);
    }
    prettyplease::unparse(&syn::File {
        shebang: None,
        frontmatter: None,
        attrs: file.attrs,
        items,
    })
}

#[test]
fn expansions_match_snapshots() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/expand");
    let bless = std::env::var_os("TIDINGS_BLESS").is_some();
    let mut checked = 0;
    for entry in fs::read_dir(&dir).expect("tests/expand exists") {
        let path = entry.expect("readable directory").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".rs") || name.ends_with(".expanded.rs") {
            continue;
        }
        let expanded = expand_file(&fs::read_to_string(&path).unwrap());
        let snapshot = path.with_extension("expanded.rs");
        if bless {
            fs::write(&snapshot, &expanded).unwrap();
        } else {
            let expected = fs::read_to_string(&snapshot).unwrap_or_default();
            assert!(
                expected == expanded,
                "the expansion of {name} changed; review it and rerun with TIDINGS_BLESS=1:\n{expanded}"
            );
        }
        checked += 1;
    }
    assert!(checked > 0, "no snapshot inputs in {}", dir.display());
}
