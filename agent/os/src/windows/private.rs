//! Windows ACLs: a protected DACL with one entry, full access for the user
//! this process runs as (what `jupyter_core.paths.win32_restrict_file_to_user`
//! sets on connection files).

use std::os::windows::ffi::OsStrExt;
use std::path::Path;

use windows_sys::Win32::Foundation::{LocalFree, GENERIC_ALL, HANDLE};
use windows_sys::Win32::Security::Authorization::{
    GetNamedSecurityInfoW, SetEntriesInAclW, SetNamedSecurityInfoW, EXPLICIT_ACCESS_W,
    NO_MULTIPLE_TRUSTEE, SET_ACCESS, SE_FILE_OBJECT, TRUSTEE_IS_SID, TRUSTEE_IS_USER, TRUSTEE_W,
};
use windows_sys::Win32::Security::{
    EqualSid, GetAce, GetSecurityDescriptorControl, GetTokenInformation, TokenUser,
    ACCESS_ALLOWED_ACE, ACL, DACL_SECURITY_INFORMATION, PROTECTED_DACL_SECURITY_INFORMATION,
    PSECURITY_DESCRIPTOR, SE_DACL_PROTECTED, SUB_CONTAINERS_AND_OBJECTS_INHERIT, TOKEN_QUERY,
    TOKEN_USER,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

use super::Owned;

pub fn open_options() -> std::fs::OpenOptions {
    std::fs::OpenOptions::new()
}

pub fn file_builder(_builder: &mut tempfile::Builder<'_, '_>) {}

pub fn dir_builder(_builder: &mut tempfile::Builder<'_, '_>) {}

fn wide(path: &Path) -> Vec<u16> {
    path.as_os_str()
        .encode_wide()
        .chain(std::iter::once(0))
        .collect()
}

/// This process's user, as the token's `TOKEN_USER` buffer (the SID lives
/// inside it).
fn token_user() -> std::io::Result<Vec<u64>> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: the pseudo-handle needs no closing; `token` receives a handle.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return Err(std::io::Error::last_os_error());
    }
    let token = Owned(token);
    let mut len = 0u32;
    // SAFETY: a null buffer of length 0 asks for the needed length.
    unsafe { GetTokenInformation(token.0, TokenUser, std::ptr::null_mut(), 0, &mut len) };
    // u64s keep the buffer aligned for TOKEN_USER.
    let mut buf = vec![0u64; (len as usize).div_ceil(8).max(1)];
    // SAFETY: the buffer holds `len` bytes.
    let ok =
        unsafe { GetTokenInformation(token.0, TokenUser, buf.as_mut_ptr().cast(), len, &mut len) };
    if ok == 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(buf)
}

fn sid_of(user: &[u64]) -> *mut core::ffi::c_void {
    // SAFETY: `user` was filled by GetTokenInformation(TokenUser).
    unsafe { (*user.as_ptr().cast::<TOKEN_USER>()).User.Sid }
}

/// Replaces `path`'s DACL with one that grants this user alone, and stops
/// inheritance from the folder.
pub fn restrict(path: &Path) -> std::io::Result<()> {
    let user = token_user()?;
    let access = EXPLICIT_ACCESS_W {
        grfAccessPermissions: GENERIC_ALL,
        grfAccessMode: SET_ACCESS,
        grfInheritance: SUB_CONTAINERS_AND_OBJECTS_INHERIT,
        Trustee: TRUSTEE_W {
            pMultipleTrustee: std::ptr::null_mut(),
            MultipleTrusteeOperation: NO_MULTIPLE_TRUSTEE,
            TrusteeForm: TRUSTEE_IS_SID,
            TrusteeType: TRUSTEE_IS_USER,
            ptstrName: sid_of(&user).cast(),
        },
    };
    let mut acl: *mut ACL = std::ptr::null_mut();
    // SAFETY: one entry, no old ACL; `acl` receives a LocalAlloc'd ACL.
    let err = unsafe { SetEntriesInAclW(1, &access, std::ptr::null(), &mut acl) };
    if err != 0 {
        return Err(std::io::Error::from_raw_os_error(err as i32));
    }
    let name = wide(path);
    // SAFETY: the name is NUL-terminated; the ACL is valid until freed below.
    let err = unsafe {
        SetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            acl,
            std::ptr::null(),
        )
    };
    // SAFETY: allocated by SetEntriesInAclW, freed once.
    unsafe { LocalFree(acl.cast()) };
    if err != 0 {
        return Err(std::io::Error::from_raw_os_error(err as i32));
    }
    Ok(())
}

/// A protected DACL whose one entry allows this user.
pub fn is_private(path: &Path) -> std::io::Result<bool> {
    let user = token_user()?;
    let name = wide(path);
    let mut dacl: *mut ACL = std::ptr::null_mut();
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: the name is NUL-terminated; the out-pointers receive a
    // descriptor (LocalAlloc'd, freed below) and a DACL inside it.
    let err = unsafe {
        GetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut dacl,
            std::ptr::null_mut(),
            &mut descriptor,
        )
    };
    if err != 0 {
        return Err(std::io::Error::from_raw_os_error(err as i32));
    }
    // SAFETY: `descriptor` and `dacl` are valid until LocalFree; a null DACL
    // (everyone allowed) is checked before it is read.
    let private = unsafe {
        let mut control = 0u16;
        let mut revision = 0u32;
        let protected = GetSecurityDescriptorControl(descriptor, &mut control, &mut revision) != 0
            && control & SE_DACL_PROTECTED != 0;
        let mut ace: *mut core::ffi::c_void = std::ptr::null_mut();
        let only_user = !dacl.is_null()
            && (*dacl).AceCount == 1
            && GetAce(dacl, 0, &mut ace) != 0
            && EqualSid(
                (&raw mut (*ace.cast::<ACCESS_ALLOWED_ACE>()).SidStart).cast(),
                sid_of(&user),
            ) != 0;
        LocalFree(descriptor);
        protected && only_user
    };
    Ok(private)
}

/// Test helper: a file made by `std::fs::write` already inherits the
/// folder's ACL, which is not private.
#[cfg(test)]
pub fn widen(_path: &Path) -> std::io::Result<()> {
    Ok(())
}
