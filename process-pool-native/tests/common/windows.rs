//! Processes seen from the outside on Windows: a Toolhelp snapshot of the system's processes.

#![allow(unsafe_code)] // FFI to kernel32 on a snapshot handle opened and closed here.

use windows_sys::Win32::Foundation::{CloseHandle, INVALID_HANDLE_VALUE};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, PROCESSENTRY32W, Process32FirstW, Process32NextW, TH32CS_SNAPPROCESS,
};

/// A process in a snapshot: its pid, its parent's pid, its executable's file name.
#[derive(Debug, Clone)]
pub struct Process {
    pub pid: u32,
    pub parent: u32,
    pub name: String,
}

/// Every process running now.
pub fn processes() -> Vec<Process> {
    let mut found = Vec::new();
    // SAFETY: the snapshot is checked, read with an entry whose size is set, then closed.
    unsafe {
        let snapshot = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
        assert_ne!(snapshot, INVALID_HANDLE_VALUE, "a process snapshot");
        let mut entry = PROCESSENTRY32W {
            dwSize: u32::try_from(std::mem::size_of::<PROCESSENTRY32W>()).unwrap(),
            ..PROCESSENTRY32W::default()
        };
        let mut more = Process32FirstW(snapshot, &mut entry) != 0;
        while more {
            let len = entry.szExeFile.iter().position(|&c| c == 0).unwrap_or(0);
            found.push(Process {
                pid: entry.th32ProcessID,
                parent: entry.th32ParentProcessID,
                name: String::from_utf16_lossy(&entry.szExeFile[..len]),
            });
            more = Process32NextW(snapshot, &mut entry) != 0;
        }
        CloseHandle(snapshot);
    }
    found
}

/// Whether process `pid` is running.
pub fn is_running(pid: u32) -> bool {
    processes().iter().any(|p| p.pid == pid)
}

/// The processes this test process started (its children), still running.
pub fn children_of_self() -> Vec<Process> {
    let me = std::process::id();
    processes().into_iter().filter(|p| p.parent == me).collect()
}
