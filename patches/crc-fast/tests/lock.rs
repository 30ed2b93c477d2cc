//! This crate replaces crc-fast only while `[patch.crates-io]` applies, and cargo drops a patch
//! without an error once the SDK asks for a crc-fast version this one is not (it builds the
//! registry's crc-fast instead and notes the patch as unused in the lock file). This test reads
//! `Cargo.lock` and fails when that has happened.

/// The lock file's `[[package]]` entries named `name`, each as its lines.
fn packages<'a>(lock: &'a str, name: &str) -> Vec<Vec<&'a str>> {
    let wanted = format!("name = \"{name}\"");
    lock.split("\n[[")
        .filter(|entry| entry.starts_with("package]]"))
        .map(|entry| entry.lines().collect::<Vec<_>>())
        .filter(|lines| lines.contains(&wanted.as_str()))
        .collect()
}

#[test]
fn the_lock_file_has_this_crate_as_its_only_crc_fast() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock");
    let lock = std::fs::read_to_string(path).expect("the workspace's Cargo.lock");
    let entries = packages(&lock, "crc-fast");
    assert_eq!(
        entries.len(),
        1,
        "one crc-fast in Cargo.lock, this patch; found {entries:#?}"
    );
    let entry = &entries[0];
    let version = format!("version = \"{}\"", env!("CARGO_PKG_VERSION"));
    assert!(
        entry.contains(&version.as_str()),
        "Cargo.lock's crc-fast is not this crate's {version}: {entry:#?}"
    );
    assert!(
        !entry.iter().any(|line| line.starts_with("source = ")),
        "Cargo.lock's crc-fast comes from a registry, not from patches/crc-fast: {entry:#?}"
    );
    assert!(
        !lock.contains("[[patch.unused]]"),
        "cargo no longer applies a [patch]: the SDK asks for a crc-fast this one is not"
    );
    // And something still uses it: the S3 SDK's checksums.
    let users = packages(&lock, "aws-smithy-checksums");
    assert!(
        users.iter().any(|lines| lines.contains(&" \"crc-fast\",")),
        "aws-smithy-checksums no longer depends on crc-fast: {users:#?}"
    );
}

#[test]
fn a_dropped_patch_is_seen() {
    let dropped = "version = 4\n\n[[package]]\nname = \"crc-fast\"\nversion = \"1.11.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n[[patch.unused]]\nname = \"crc-fast\"\nversion = \"1.10.0\"\n";
    let entries = packages(dropped, "crc-fast");
    assert_eq!(entries.len(), 1);
    assert!(entries[0].iter().any(|line| line.starts_with("source = ")));
    assert!(dropped.contains("[[patch.unused]]"));
}
