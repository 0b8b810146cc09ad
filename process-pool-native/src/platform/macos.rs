//! macOS: no `/proc`; a group's members and a process's resident set come from libproc
//! (`proc_listpgrppids`, `proc_pidinfo`). What is made of their answers is platform-free and
//! tested on every host with the system calls replaced; the calls themselves are in
//! [`libproc`], built for macOS only.
#![cfg_attr(not(target_os = "macos"), allow(dead_code))]

/// `p_stat` of a process that has exited and waits to be reaped (`<sys/proc.h>`).
const SZOMB: u32 = 5;

/// Room for this many pids at first; doubled while the answer fills the buffer.
const FIRST_ROOM: usize = 64;
/// A group is never this big; past it, the answer is "cannot tell".
const MOST_ROOM: usize = 1 << 20;

/// The pids `list` writes into a buffer it is given, asked again with a bigger one while it
/// fills it (the group may have grown between the calls). `list` returns how many pids it
/// wrote, or `None` when the call failed.
fn listed(mut list: impl FnMut(&mut [i32]) -> Option<usize>) -> Option<Vec<i32>> {
    let mut room = FIRST_ROOM;
    while room <= MOST_ROOM {
        let mut buffer = vec![0; room];
        let count = list(&mut buffer)?;
        if count < room {
            buffer.truncate(count);
            buffer.retain(|&pid| pid > 0);
            return Some(buffer);
        }
        room *= 2;
    }
    None
}

/// Whether any of `pids` is alive: not a zombie, by its `pbi_status` (`None`: it is gone).
fn any_live(pids: &[i32], status: impl Fn(i32) -> Option<u32>) -> bool {
    pids.iter()
        .any(|&pid| status(pid).is_some_and(|status| status != SZOMB))
}

/// Whether group `pgid` has a live (not zombie) member; `None` when libproc cannot tell.
#[cfg(target_os = "macos")]
pub(super) fn live_member(pgid: i32) -> Option<bool> {
    let members = listed(|buffer| libproc::group_members(pgid, buffer))?;
    Some(any_live(&members, libproc::status))
}

/// The resident set of `pid`, in bytes (`pti_resident_size`).
#[cfg(target_os = "macos")]
pub(super) fn resident_bytes(pid: u32) -> Option<u64> {
    libproc::resident_size(i32::try_from(pid).ok()?)
}

/// The libproc calls, each a thin safe wrapper.
#[cfg(target_os = "macos")]
#[allow(unsafe_code)] // FFI to libproc: each call is given a buffer of the size it is told.
mod libproc {
    use std::ffi::{c_int, c_void};
    use std::mem::{MaybeUninit, size_of};

    const _: () = assert!(libc::SZOMB == super::SZOMB);

    /// Writes the pids of group `pgid` into `buffer`; how many, or `None` on failure.
    pub(super) fn group_members(pgid: i32, buffer: &mut [i32]) -> Option<usize> {
        let bytes = c_int::try_from(std::mem::size_of_val(buffer)).ok()?;
        // SAFETY: the buffer is valid for `bytes` bytes; the call writes at most that many.
        let count =
            unsafe { libc::proc_listpgrppids(pgid, buffer.as_mut_ptr().cast::<c_void>(), bytes) };
        usize::try_from(count).ok()
    }

    /// `proc_pidinfo(pid, flavor, 0, &mut T)`, when the whole `T` was written.
    fn info<T>(pid: i32, flavor: c_int) -> Option<T> {
        let mut out = MaybeUninit::<T>::zeroed();
        let size = c_int::try_from(size_of::<T>()).ok()?;
        // SAFETY: `out` is valid for `size` bytes; the call writes at most that many.
        let written =
            unsafe { libc::proc_pidinfo(pid, flavor, 0, out.as_mut_ptr().cast::<c_void>(), size) };
        // SAFETY: all-zero is a valid value of these plain C structs, and the call wrote it
        // whole.
        (written == size).then(|| unsafe { out.assume_init() })
    }

    /// `pbi_status` of `pid`, `None` once it is gone.
    pub(super) fn status(pid: i32) -> Option<u32> {
        info::<libc::proc_bsdinfo>(pid, libc::PROC_PIDTBSDINFO).map(|info| info.pbi_status)
    }

    /// `pti_resident_size` of `pid`.
    pub(super) fn resident_size(pid: i32) -> Option<u64> {
        info::<libc::proc_taskinfo>(pid, libc::PROC_PIDTASKINFO).map(|info| info.pti_resident_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_answer_is_taken_as_it_is_without_empty_slots() {
        let pids = listed(|buffer| {
            buffer[..3].copy_from_slice(&[10, 0, 12]);
            Some(3)
        });
        assert_eq!(pids, Some(vec![10, 12]));
    }

    #[test]
    fn a_full_buffer_is_asked_again_bigger() {
        let group: Vec<i32> = (1..=100).collect();
        let mut rooms = Vec::new();
        let pids = listed(|buffer| {
            rooms.push(buffer.len());
            let n = group.len().min(buffer.len());
            buffer[..n].copy_from_slice(&group[..n]);
            Some(n)
        });
        assert_eq!(pids, Some(group));
        assert_eq!(rooms, [64, 128]);
    }

    #[test]
    fn a_failed_call_or_an_endless_group_cannot_tell() {
        assert_eq!(listed(|_| None), None);
        assert_eq!(listed(|buffer| Some(buffer.len())), None);
    }

    #[test]
    fn zombies_and_vanished_pids_are_not_alive() {
        let status = |pid| match pid {
            1 => Some(SZOMB),
            2 => None,
            3 => Some(2), // SRUN
            _ => unreachable!("only the listed pids are asked"),
        };
        assert!(!any_live(&[1, 2], status));
        assert!(any_live(&[1, 2, 3], status));
        assert!(!any_live(&[], status));
    }
}
