namespace VirtioFsd.Fuse.Abi;

/// <summary>Protocol numbers from linux/fuse.h that are not structs, opcodes or INIT flags.</summary>
public static class FuseConstants
{
    /// <summary>FUSE_KERNEL_VERSION: the major version we speak.</summary>
    public const uint KernelVersion = 7;

    /// <summary>FUSE_KERNEL_MINOR_VERSION of the header we implement (7.38); newer guests are negotiated down to it.</summary>
    public const uint KernelMinorVersion = 38;

    /// <summary>
    /// The oldest minor we accept: 7.27 (Linux 5.0). Every struct has had its current size since
    /// then (the FUSE_COMPAT_*_SIZE variants are all for minors below 23), except setxattr_in,
    /// whose size follows FUSE_SETXATTR_EXT; virtio-fs guests (Linux 5.4+, 7.31) are all newer.
    /// </summary>
    public const uint MinimumMinorVersion = 27;

    /// <summary>FUSE_COMPAT_22_INIT_OUT_SIZE: the init_out a guest older than 7.23 expects.</summary>
    public const int CompatInitOutSize = 24;

    /// <summary>FUSE_COMPAT_SETXATTR_IN_SIZE: setxattr_in without FUSE_SETXATTR_EXT.</summary>
    public const int CompatSetXattrInSize = 8;

    /// <summary>fuse_init_in before 7.36 carried only major, minor, max_readahead and flags.</summary>
    public const int CompatInitInSize = 16;

    // fuse_setattr_in.valid (FATTR_*).
    public const uint FattrMode = 1 << 0;
    public const uint FattrUid = 1 << 1;
    public const uint FattrGid = 1 << 2;
    public const uint FattrSize = 1 << 3;
    public const uint FattrAtime = 1 << 4;
    public const uint FattrMtime = 1 << 5;
    public const uint FattrFh = 1 << 6;
    public const uint FattrAtimeNow = 1 << 7;
    public const uint FattrMtimeNow = 1 << 8;
    public const uint FattrLockOwner = 1 << 9;
    public const uint FattrCtime = 1 << 10;
    public const uint FattrKillSuidgid = 1 << 11;

    // fuse_open_out.open_flags (FOPEN_*).
    public const uint FopenDirectIo = 1 << 0;
    public const uint FopenKeepCache = 1 << 1;
    public const uint FopenNonSeekable = 1 << 2;
    public const uint FopenCacheDir = 1 << 3;
    public const uint FopenStream = 1 << 4;
    public const uint FopenNoFlush = 1 << 5;
    public const uint FopenParallelDirectWrites = 1 << 6;

    /// <summary>FUSE_RELEASE_FLUSH / FUSE_RELEASE_FLOCK_UNLOCK (fuse_release_in.release_flags).</summary>
    public const uint ReleaseFlush = 1 << 0;
    public const uint ReleaseFlockUnlock = 1 << 1;

    /// <summary>FUSE_GETATTR_FH: fuse_getattr_in.fh is valid.</summary>
    public const uint GetAttrFh = 1 << 0;

    /// <summary>FUSE_LK_FLOCK: fuse_lk_in is a flock(2), not a POSIX lock.</summary>
    public const uint LkFlock = 1 << 0;

    // fuse_write_in.write_flags.
    public const uint WriteCache = 1 << 0;
    public const uint WriteLockOwner = 1 << 1;
    public const uint WriteKillSuidgid = 1 << 2;

    /// <summary>FUSE_READ_LOCKOWNER: fuse_read_in.lock_owner is valid.</summary>
    public const uint ReadLockOwner = 1 << 1;

    // fuse_ioctl_in.flags.
    public const uint IoctlCompat = 1 << 0;
    public const uint IoctlUnrestricted = 1 << 1;
    public const uint IoctlRetry = 1 << 2;
    public const uint Ioctl32Bit = 1 << 3;
    public const uint IoctlDir = 1 << 4;

    /// <summary>FUSE_FSYNC_FDATASYNC: sync data only.</summary>
    public const uint FsyncFdatasync = 1 << 0;

    /// <summary>FUSE_ATTR_SUBMOUNT (fuse_attr.flags): the directory is another mount on the host.</summary>
    public const uint AttrSubmount = 1 << 0;

    /// <summary>FUSE_OPEN_KILL_SUIDGID (fuse_open_in / fuse_create_in .open_flags).</summary>
    public const uint OpenKillSuidgid = 1 << 0;

    /// <summary>FUSE_SETXATTR_ACL_KILL_SGID (fuse_setxattr_in.setxattr_flags).</summary>
    public const uint SetXattrAclKillSgid = 1 << 0;

    /// <summary>enum fuse_ext_type: types 0..31 are security contexts (fuse_secctx_header).</summary>
    public const uint MaxNrSecctx = 31;

    /// <summary>FUSE_EXT_GROUPS (7.39): fuse_supp_groups, sent with create-type requests under CREATE_SUPP_GROUP.</summary>
    public const uint ExtGroups = 32;

    /// <summary>FUSE_REC_ALIGN: dirents and request extensions are aligned to 8 bytes.</summary>
    public const int RecordAlignment = 8;

    /// <summary>NAME_MAX (linux/limits.h): a name the guest sends is at most this many bytes.</summary>
    public const int NameMax = 255;

    /// <summary>PATH_MAX (linux/limits.h), counting the terminating NUL: a symlink target is shorter.</summary>
    public const int PathMax = 4096;

    /// <summary>XATTR_SIZE_MAX (linux/limits.h): the largest xattr value (and list) Linux allows.</summary>
    public const int XattrSizeMax = 65536;

    /// <summary>FUSE_IOCTL_MAX_IOV pages bound restricted ioctl data; we cap in/out at 16 KiB (_IOC_SIZEBITS 14).</summary>
    public const int IoctlMaxData = 16384;

    /// <summary>FUSE_MIN_READ_BUFFER: the guest never offers less room for a reply to INIT.</summary>
    public const int MinReadBuffer = 8192;

    // open(2) flags as they appear on the wire (asm-generic/fcntl.h, x86_64 values).
    public const uint OAccMode = 0x3;
    public const uint ORdOnly = 0x0;
    public const uint OWrOnly = 0x1;
    public const uint ORdWr = 0x2;
    public const uint OTrunc = 0x200;
    public const uint OAppend = 0x400;
    public const uint ODirect = 0x4000;
}
