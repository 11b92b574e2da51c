// Embeds the selected interpreter's facts and makes libpython findable at load time.
fn main() {
    pyo3_build_config::use_pyo3_cfgs();
    let config = pyo3_build_config::get();
    // An embedder links libpython, so the NIF must find it at dlopen time even when
    // the interpreter lives outside the system library path (pyenv, uv, our cache).
    if let Some(lib_dir) = &config.lib_dir() {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
    }
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
}
