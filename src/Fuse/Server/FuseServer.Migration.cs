using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.Server.Migration;

namespace VirtioFsd.Fuse.Server;

// Live migration: the session the guest negotiated moves to the destination daemon, which serves it without an INIT.
public sealed partial class FuseServer
{
    /// <summary>The session up now, or null (the guest has not mounted, or unmounted).</summary>
    public FuseSessionState? ExportSession()
    {
        Session? current = session;
        return current is null ? null : new FuseSessionState(current.Minor, current.Flags, maxWrite);
    }

    /// <summary>
    /// Why this server cannot go on with <paramref name="state"/>, or null: it must not have a session of its own yet,
    /// the minor must be one we speak, every flag one these options would have offered (a destination without
    /// --writeback cannot serve a guest that caches writes), and max_write not beyond ours (the guest sends WRITEs up to it).
    /// </summary>
    public string? CheckImport(FuseSessionState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (session is not null)
        {
            return "this daemon already serves a FUSE session";
        }
        if (state.Minor < FuseConstants.MinimumMinorVersion || state.Minor > FuseConstants.KernelMinorVersion)
        {
            return $"protocol 7.{state.Minor} is outside 7.{FuseConstants.MinimumMinorVersion}..7.{FuseConstants.KernelMinorVersion}";
        }
        FuseInitFlags unknown = state.Flags & ~(OfferedFlags() | FuseInitFlags.InitExt);
        if (unknown != 0)
        {
            return $"the guest negotiated {unknown}, which this daemon's options do not offer";
        }
        if (state.MaxWrite > maxWrite)
        {
            return $"the guest may send WRITEs of {state.MaxWrite} bytes, more than this daemon's {maxWrite}";
        }
        return null;
    }

    /// <summary>
    /// Takes over a session checked with <see cref="CheckImport"/>: the filesystem learns the flags (as at INIT), and every
    /// request but INIT is served from now on. Returns null, or why the filesystem does not take them.
    /// </summary>
    public string? Import(FuseSessionState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        lock (initLock)
        {
            string? problem = CheckImport(state);
            if (problem is not null)
            {
                return problem;
            }
            FuseInitFlags enabled = fs.Init(state.Flags) | (state.Flags & FuseInitFlags.InitExt);
            if (enabled != state.Flags)
            {
                return $"the filesystem does not take {state.Flags & ~enabled}";
            }
            session = new Session(state.Minor, state.Flags);
            log.Information("FUSE session taken over from the migration source: 7.{Minor}, flags {Flags}, max_write {MaxWrite}",
                state.Minor, state.Flags, state.MaxWrite);
            return null;
        }
    }

    /// <summary>fuse_init_out.max_write of the Rust virtiofsd 1.13 (its MAX_BUFFER_SIZE, 1 MiB): what its guest may send.</summary>
    public const uint RustMaxWrite = 1 << 20;

    /// <summary>The protocol minor the Rust virtiofsd 1.13 answers INIT with (its KERNEL_MINOR_VERSION).</summary>
    public const uint RustMinor = 38;

    /// <summary>Flags the Rust virtiofsd 1.13 enables at INIT whatever its options, when the guest offers them (its
    /// server's "supported" set; SUBMOUNTS and CREATE_SUPP_GROUP are told by the state, ALLOW_IDMAP is not ours).</summary>
    private const FuseInitFlags RustAlwaysEnabled = FuseInitFlags.AsyncRead | FuseInitFlags.ParallelDirOps | FuseInitFlags.BigWrites
        | FuseInitFlags.AutoInvalData | FuseInitFlags.AsyncDio | FuseInitFlags.HasIoctlDir | FuseInitFlags.AtomicOTrunc
        | FuseInitFlags.MaxPages | FuseInitFlags.InitExt;

    /// <summary>Flags it enables by options that have the same names here (--readdirplus, --killpriv-v2, --security-label):
    /// source and destination are started with the same options, so ours tell.</summary>
    private const FuseInitFlags RustByOptions = FuseInitFlags.DoReadDirPlus | FuseInitFlags.ReadDirPlusAuto
        | FuseInitFlags.HandleKillPrivV2 | FuseInitFlags.SecurityCtx;

    /// <summary>
    /// The session a guest of a Rust virtiofsd 1.13 has, as far as its state tells (four booleans: write-back cache,
    /// submount announcements, POSIX ACLs with DONT_MASK and SETXATTR_EXT, the supplementary group extension) and
    /// assumed for the rest: protocol 7.38 (what a guest kernel of 6.x and later agrees with it: this server uses the
    /// minor for nothing after INIT), max_write 1 MiB (theirs), and the flags they enable for every guest that offers
    /// them, with ours for those both daemons take from the same options. docs/migration.md says what this assumes.
    /// </summary>
    public FuseSessionState AssumeRustSession(bool writeback, bool announceSubmounts, bool posixAcl, bool supGroupExtension)
    {
        FuseInitFlags flags = RustAlwaysEnabled | (OfferedFlags() & RustByOptions);
        flags |= writeback ? FuseInitFlags.WritebackCache : 0;
        flags |= announceSubmounts ? FuseInitFlags.Submounts : 0;
        flags |= posixAcl ? FuseInitFlags.PosixAcl | FuseInitFlags.DontMask | FuseInitFlags.SetXattrExt : 0;
        flags |= supGroupExtension ? FuseInitFlags.CreateSuppGroup : 0;
        var state = new FuseSessionState(Math.Min(RustMinor, FuseConstants.KernelMinorVersion), flags, RustMaxWrite);
        log.Information("Migration from a Rust virtiofsd 1.13: assuming the guest negotiated 7.{Minor}, flags {Flags}, max_write {MaxWrite} " +
            "(its state carries only write-back {Writeback}, submounts {Submounts}, POSIX ACL {PosixAcl}, supplementary group {SuppGroup})",
            state.Minor, state.Flags, state.MaxWrite, writeback, announceSubmounts, posixAcl, supGroupExtension);
        return state;
    }

    /// <summary>
    /// What a Rust virtiofsd 1.13 destination must be told of the session up now (its four booleans), or why it cannot
    /// go on with it: it implements no POSIX or flock locks, and its max_write is 1 MiB. Null booleans without a session.
    /// </summary>
    public string? ExportRustSession(out (bool Writeback, bool AnnounceSubmounts, bool PosixAcl, bool SupGroupExtension) negotiated)
    {
        negotiated = default;
        Session? current = session;
        if (current is null)
        {
            return null;
        }
        FuseInitFlags notTheirs = current.Flags & (FuseInitFlags.PosixLocks | FuseInitFlags.FlockLocks);
        if (notTheirs != 0)
        {
            return $"the guest negotiated {notTheirs}, which the Rust virtiofsd 1.13 does not implement";
        }
        if (maxWrite > RustMaxWrite)
        {
            return $"the guest may send WRITEs of {maxWrite} bytes, more than the Rust virtiofsd's {RustMaxWrite}";
        }
        negotiated = (current.Has(FuseInitFlags.WritebackCache), current.Has(FuseInitFlags.Submounts),
            current.Has(FuseInitFlags.PosixAcl), current.Has(FuseInitFlags.CreateSuppGroup));
        return null;
    }
}
