using VirtioFsd.Fuse.Abi;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Server;

// FUSE_INIT and FUSE_DESTROY: version and feature negotiation, session reset.
public sealed partial class FuseServer
{
    /// <summary>
    /// Flags offered whatever the options (when the guest offers them too), as both existing
    /// virtiofsd implementations do; EXPORT_SUPPORT means the filesystem answers LOOKUP of "." and "..".
    /// </summary>
    private const FuseInitFlags AlwaysOffered = FuseInitFlags.AsyncRead | FuseInitFlags.ParallelDirOps
        | FuseInitFlags.BigWrites | FuseInitFlags.AutoInvalData | FuseInitFlags.AsyncDio | FuseInitFlags.AtomicOTrunc
        | FuseInitFlags.MaxPages | FuseInitFlags.InitExt | FuseInitFlags.CreateSuppGroup | FuseInitFlags.ExportSupport
        | FuseInitFlags.HasIoctlDir;

    /// <summary>fuse_init_out.max_background: Rust virtiofsd's u16::MAX (the guest caps it anyway).</summary>
    private const ushort MaxBackground = ushort.MaxValue;

    /// <summary>fuse_init_out.congestion_threshold: 3/4 of max_background, as the kernel's own default ratio.</summary>
    private const ushort CongestionThreshold = ushort.MaxValue / 4 * 3;

    /// <summary>The guest's page size: max_pages = max_write / 4096.</summary>
    private const uint PageSize = 4096;

    /// <summary>Every flag the options allow us to offer; the guest's offer is intersected with it.</summary>
    internal FuseInitFlags OfferedFlags()
    {
        FuseInitFlags flags = AlwaysOffered;
        if (options.ReadDirPlus)
        {
            flags |= FuseInitFlags.DoReadDirPlus | FuseInitFlags.ReadDirPlusAuto;
        }

        if (options.Writeback && !options.ReadOnly)
        {
            flags |= FuseInitFlags.WritebackCache;
        }

        if (options.KillPrivV2 && !options.ReadOnly)
        {
            flags |= FuseInitFlags.HandleKillPrivV2;
        }

        if (options.PosixAcl && options.Xattr)
        {
            // ACLs need the guest not to apply the umask itself (DONT_MASK: the filesystem applies it
            // unless a default ACL decides) and the SGID-clearing flag of SETXATTR_EXT.
            flags |= FuseInitFlags.PosixAcl | FuseInitFlags.DontMask | FuseInitFlags.SetXattrExt;
        }

        if (options.AnnounceSubmounts)
        {
            flags |= FuseInitFlags.Submounts;
        }

        if (options.PosixLocks)
        {
            flags |= FuseInitFlags.PosixLocks;
        }

        if (options.FlockLocks)
        {
            flags |= FuseInitFlags.FlockLocks;
        }

        if (options.AllowMmap)
        {
            flags |= FuseInitFlags.DirectIoAllowMmap;
        }

        if (options.SecurityLabel && options.Xattr && !options.ReadOnly)
        {
            flags |= FuseInitFlags.SecurityCtx;
        }

        if (options.Cache == CacheMode.Always)
        {
            flags |= FuseInitFlags.CacheSymlinks;
        }

        if (options.OverIoUring)
        {
            flags |= FuseInitFlags.OverIoUring;
        }

        return flags;
    }

    private int Init(FuseRequest request, in FuseInHeader header)
    {
        RequestReader reader = request.Reader;
        ReplyWriter writer = request.Writer;
        if (!reader.TryReadPrefix(FuseConstants.CompatInitInSize, RequestReader.SizeOf<FuseInitIn>(), out FuseInitIn init))
        {
            log.Warning("FUSE INIT (unique {Unique}) shorter than the 16 bytes of a 7.x fuse_init_in", header.Unique);
            return -Errno.EINVAL;
        }

        if (init.Major < FuseConstants.KernelVersion)
        {
            log.Error("FUSE INIT: guest speaks {Major}.{Minor}, we need 7.{MinMinor} or later", init.Major, init.Minor,
                FuseConstants.MinimumMinorVersion);
            return -Errno.EPROTO;
        }

        if (init.Major > FuseConstants.KernelVersion)
        {
            // fuse(4): a newer major gets just our version back and the guest retries INIT with it.
            var ours = new FuseInitOut { Major = FuseConstants.KernelVersion, Minor = FuseConstants.KernelMinorVersion };
            return writer.TryWritePrefix(ours, 8) ? Replied : -Errno.ERANGE;
        }

        if (init.Minor < FuseConstants.MinimumMinorVersion)
        {
            log.Error("FUSE INIT: guest speaks 7.{Minor}, we need 7.{MinMinor} or later", init.Minor,
                FuseConstants.MinimumMinorVersion);
            return -Errno.EPROTO;
        }

        uint minor = Math.Min(init.Minor, FuseConstants.KernelMinorVersion);
        int replySize = minor < 23 ? FuseConstants.CompatInitOutSize : RequestReader.SizeOf<FuseInitOut>();
        if (writer.Remaining < replySize)
        {
            return -Errno.ERANGE;
        }

        var guest = (FuseInitFlags)init.Flags;
        if (guest.HasFlag(FuseInitFlags.InitExt))
        {
            guest |= (FuseInitFlags)((ulong)init.Flags2 << 32);
        }

        lock (initLock)
        {
            EndSessionLocked("FUSE INIT without DESTROY: the guest reconnected");

            FuseInitFlags capable = guest & OfferedFlags();
            FuseInitFlags enabled = fs.Init(capable) & capable;
            if ((ulong)enabled >> 32 != 0)
            {
                // The upper half travels in flags2, which the guest reads only with INIT_EXT.
                enabled |= FuseInitFlags.InitExt;
            }

            var reply = new FuseInitOut
            {
                Major = FuseConstants.KernelVersion,
                Minor = minor,
                MaxReadahead = init.MaxReadahead,
                Flags = (uint)enabled,
                Flags2 = (uint)((ulong)enabled >> 32),
                MaxBackground = MaxBackground,
                CongestionThreshold = CongestionThreshold,
                MaxWrite = maxWrite,
                TimeGran = 1,
                MaxPages = enabled.HasFlag(FuseInitFlags.MaxPages) ? (ushort)((maxWrite + PageSize - 1) / PageSize) : (ushort)0,
            };
            writer.TryWritePrefix(reply, replySize);
            session = new Session(minor, enabled);
            log.Information("FUSE session up: guest 7.{GuestMinor}, speaking 7.{Minor}, flags {Flags:l}, max_write {MaxWrite}",
                init.Minor, minor, FuseInitFlagNames.Describe(enabled), maxWrite);
        }

        return Replied;
    }

    private int Destroy()
    {
        EndSession("FUSE DESTROY");
        return Replied;
    }

    /// <summary>
    /// Ends the session, if one is up: the filesystem drops every node and handle except the root, and every request
    /// but INIT gets EIO until the next INIT. DESTROY, a second INIT and a transport's reset (the virtio device was
    /// reset, the frontend went away) all end it here, so the server's state and the filesystem's never disagree.
    /// </summary>
    public void EndSession(string reason)
    {
        lock (initLock)
        {
            EndSessionLocked(reason);
        }
    }

    private void EndSessionLocked(string reason)
    {
        if (session is null)
        {
            return;
        }
        session = null;
        fs.Destroy();
        log.Information("FUSE session closed: {Reason}; every node and handle dropped", reason);
    }
}
