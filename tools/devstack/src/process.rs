//! Child processes that never outlive the stack, however it ends.

use tokio::process::Command;

/// Asks Linux to kill the child when the process that started it dies, so a killed stack
/// leaves no moto or function process behind.
pub fn die_with_parent(command: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and calls only prctl, which is
    // async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}
