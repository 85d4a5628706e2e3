namespace VirtioFsd.Fuse.Abi;

/// <summary>
/// FUSE_* INIT flags (linux/fuse.h "INIT request/reply flags"). Bits 0-31 travel in
/// fuse_init_in/out.flags, bits 32-63 in flags2, which only count when FUSE_INIT_EXT (bit 30) is set.
/// Bits 34 and above are from 7.39/7.40 (newer than the 7.38 header on this machine).
/// </summary>
[Flags]
public enum FuseInitFlags : ulong
{
    None = 0,
    AsyncRead = 1UL << 0,
    PosixLocks = 1UL << 1,
    FileOps = 1UL << 2,
    AtomicOTrunc = 1UL << 3,
    ExportSupport = 1UL << 4,
    BigWrites = 1UL << 5,
    DontMask = 1UL << 6,
    SpliceWrite = 1UL << 7,
    SpliceMove = 1UL << 8,
    SpliceRead = 1UL << 9,
    FlockLocks = 1UL << 10,
    HasIoctlDir = 1UL << 11,
    AutoInvalData = 1UL << 12,
    DoReadDirPlus = 1UL << 13,
    ReadDirPlusAuto = 1UL << 14,
    AsyncDio = 1UL << 15,
    WritebackCache = 1UL << 16,
    NoOpenSupport = 1UL << 17,
    ParallelDirOps = 1UL << 18,
    HandleKillPriv = 1UL << 19,
    PosixAcl = 1UL << 20,
    AbortError = 1UL << 21,
    MaxPages = 1UL << 22,
    CacheSymlinks = 1UL << 23,
    NoOpenDirSupport = 1UL << 24,
    ExplicitInvalData = 1UL << 25,
    MapAlignment = 1UL << 26,
    Submounts = 1UL << 27,
    HandleKillPrivV2 = 1UL << 28,
    SetXattrExt = 1UL << 29,
    InitExt = 1UL << 30,
    InitReserved = 1UL << 31,
    SecurityCtx = 1UL << 32,
    HasInodeDax = 1UL << 33,
    CreateSuppGroup = 1UL << 34,
    HasExpireOnly = 1UL << 35,
    DirectIoAllowMmap = 1UL << 36,
    Passthrough = 1UL << 37,
    NoExportSupport = 1UL << 38,
    HasResend = 1UL << 39,
    AllowIdmap = 1UL << 40,

    /// <summary>FUSE_OVER_IO_URING (7.42, Linux 6.14): requests may be served through io_uring queues (fuse-io-uring.rst).</summary>
    OverIoUring = 1UL << 41,
}

/// <summary>The INIT flags as text, without reflection.</summary>
public static class FuseInitFlagNames
{
    /// <summary>Bit i's name, in bit order (bits 0 to 41 all have one); a bit past the end has none.</summary>
    private static readonly string[] s_names =
    [
        nameof(FuseInitFlags.AsyncRead),
        nameof(FuseInitFlags.PosixLocks),
        nameof(FuseInitFlags.FileOps),
        nameof(FuseInitFlags.AtomicOTrunc),
        nameof(FuseInitFlags.ExportSupport),
        nameof(FuseInitFlags.BigWrites),
        nameof(FuseInitFlags.DontMask),
        nameof(FuseInitFlags.SpliceWrite),
        nameof(FuseInitFlags.SpliceMove),
        nameof(FuseInitFlags.SpliceRead),
        nameof(FuseInitFlags.FlockLocks),
        nameof(FuseInitFlags.HasIoctlDir),
        nameof(FuseInitFlags.AutoInvalData),
        nameof(FuseInitFlags.DoReadDirPlus),
        nameof(FuseInitFlags.ReadDirPlusAuto),
        nameof(FuseInitFlags.AsyncDio),
        nameof(FuseInitFlags.WritebackCache),
        nameof(FuseInitFlags.NoOpenSupport),
        nameof(FuseInitFlags.ParallelDirOps),
        nameof(FuseInitFlags.HandleKillPriv),
        nameof(FuseInitFlags.PosixAcl),
        nameof(FuseInitFlags.AbortError),
        nameof(FuseInitFlags.MaxPages),
        nameof(FuseInitFlags.CacheSymlinks),
        nameof(FuseInitFlags.NoOpenDirSupport),
        nameof(FuseInitFlags.ExplicitInvalData),
        nameof(FuseInitFlags.MapAlignment),
        nameof(FuseInitFlags.Submounts),
        nameof(FuseInitFlags.HandleKillPrivV2),
        nameof(FuseInitFlags.SetXattrExt),
        nameof(FuseInitFlags.InitExt),
        nameof(FuseInitFlags.InitReserved),
        nameof(FuseInitFlags.SecurityCtx),
        nameof(FuseInitFlags.HasInodeDax),
        nameof(FuseInitFlags.CreateSuppGroup),
        nameof(FuseInitFlags.HasExpireOnly),
        nameof(FuseInitFlags.DirectIoAllowMmap),
        nameof(FuseInitFlags.Passthrough),
        nameof(FuseInitFlags.NoExportSupport),
        nameof(FuseInitFlags.HasResend),
        nameof(FuseInitFlags.AllowIdmap),
        nameof(FuseInitFlags.OverIoUring),
    ];

    /// <summary>
    /// What <c>Enum.ToString()</c> gives for <paramref name="flags"/> ("AsyncRead, PosixLocks", "None", or the number when
    /// some bit has no name), made by walking the bits. Enum.ToString() reads the enum's names through the runtime's
    /// reflection, which under NativeAOT allocated ~100 KB and mapped the reflection code on every FUSE INIT.
    /// </summary>
    public static string Describe(FuseInitFlags flags)
    {
        ulong bits = (ulong)flags;
        if (bits == 0)
        {
            return nameof(FuseInitFlags.None);
        }
        var text = new System.Text.StringBuilder();
        for (int i = 0; i < 64; i++)
        {
            if ((bits & (1UL << i)) == 0)
            {
                continue;
            }
            if (i >= s_names.Length)
            {
                return bits.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
            if (text.Length > 0)
            {
                text.Append(", ");
            }
            text.Append(s_names[i]);
        }
        return text.ToString();
    }
}
