//! The UI assets come from npm (tools/docs, pinned by its package-lock) and are built into the
//! binary: a clear message when they were not installed yet.

fn main() {
    // Read when the script runs, not baked in when it was compiled: a build directory shared
    // by several checkouts would otherwise point every one of them at the first's assets.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|e| panic!("CARGO_MANIFEST_DIR: {e}"));
    let root = std::path::Path::new(&manifest_dir).join("../../tools/docs");
    for asset in [
        "node_modules/swagger-ui-dist/swagger-ui-bundle.js",
        "node_modules/swagger-ui-dist/swagger-ui.css",
        "node_modules/swagger-ui-dist/oauth2-redirect.html",
        "node_modules/swagger-ui-dist/oauth2-redirect.js",
        "node_modules/redoc/bundles/redoc.standalone.js",
    ] {
        let path = root.join(asset);
        if !path.exists() {
            panic!(
                "{} is missing: run scripts/setup.sh (it runs `npm ci --prefix tools/docs`)",
                path.display()
            );
        }
        println!("cargo:rerun-if-changed={}", path.display());
    }
    println!("cargo:rerun-if-changed={}", root.join("package-lock.json").display());

    // Redoc's menu shows a logo from its CDN; the pages fetch nothing but from the API, so the
    // image goes (its link to Redocly stays).
    let redoc = root.join("node_modules/redoc/bundles/redoc.standalone.js");
    let bundle = std::fs::read_to_string(&redoc).unwrap_or_else(|e| panic!("{}: {e}", redoc.display()));
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|e| panic!("OUT_DIR: {e}")));
    let local = bundle.replace("\"https://cdn.redoc.ly/redoc/logo-mini.svg\"", "\"\"");
    std::fs::write(out.join("redoc.standalone.js"), local).unwrap_or_else(|e| panic!("OUT_DIR: {e}"));
}
