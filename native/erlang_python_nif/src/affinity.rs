//! Pinning a pool's context threads to CPUs (`cpu_affinity: :spread`).
//!
//! Left to itself the kernel places context threads, and usually spreads busy ones
//! over idle CPUs. Some kernels do not: VM guests that pack runnable threads onto
//! few virtual CPUs to spare the host can queue two busy contexts on one CPU while
//! another idles, for whole calls. A context pinned to a CPU of its own cannot be
//! packed. Context `i` gets the `i`-th CPU the process may use, wrapping around.

/// The CPU each of `size` contexts is pinned to.
pub fn spread(size: usize) -> Result<Vec<usize>, String> {
    let cpus = allowed_cpus()?;
    Ok((0..size).map(|index| cpus[index % cpus.len()]).collect())
}

#[cfg(target_os = "linux")]
fn allowed_cpus() -> Result<Vec<usize>, String> {
    // The process's mask (its main thread's), not the calling scheduler thread's:
    // schedulers bound with +sbt have a mask of one CPU.
    // SAFETY: `set` is a valid cpu_set_t that sched_getaffinity fills.
    let set = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(libc::getpid(), std::mem::size_of_val(&set), &mut set) != 0 {
            return Err(format!(
                "cannot read the CPUs this process may use: {}",
                std::io::Error::last_os_error()
            ));
        }
        set
    };
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect();
    if cpus.is_empty() {
        return Err("the process may use no CPU".into());
    }
    Ok(cpus)
}

/// Pins the calling thread to `cpu`.
#[cfg(target_os = "linux")]
pub fn pin_current_thread(cpu: usize) -> Result<(), String> {
    // SAFETY: `set` is a valid, zeroed cpu_set_t and `cpu` came from allowed_cpus.
    let failed = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) != 0
    };
    if failed {
        return Err(format!(
            "cannot pin a context thread to CPU {cpu}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
const UNSUPPORTED: &str = "cpu_affinity: :spread is supported on Linux only";

#[cfg(not(target_os = "linux"))]
fn allowed_cpus() -> Result<Vec<usize>, String> {
    Err(UNSUPPORTED.into())
}

#[cfg(not(target_os = "linux"))]
pub fn pin_current_thread(_cpu: usize) -> Result<(), String> {
    Err(UNSUPPORTED.into())
}
