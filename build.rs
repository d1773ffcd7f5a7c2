//! Build script: records which backends are compiled in, for `havok --version`.
fn main() {
    let mut backends = Vec::new();
    for (feature, name) in [
        ("CARGO_FEATURE_ETCD3", "etcd3"),
        ("CARGO_FEATURE_ETCD2", "etcd2"),
        ("CARGO_FEATURE_VULCAND_API", "vulcand-api"),
    ] {
        if std::env::var_os(feature).is_some() {
            backends.push(name);
        }
    }
    println!(
        "cargo:rustc-env=BUILD_HAVOK_BACKENDS={}",
        backends.join(", ")
    );
    println!("cargo:rerun-if-changed=build.rs");
}
