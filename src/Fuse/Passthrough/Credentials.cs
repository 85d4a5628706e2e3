using Serilog;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Passthrough;

/// <summary>
/// Runs a creating operation as the guest caller, on the current thread only, so that the host
/// kernel applies its own ownership rules: the new file belongs to the caller, SGID directories
/// pass their group on, and the SGID bit of a new file survives only if the caller is in that
/// group. The daemon's own supplementary groups are replaced by none (or the one group the guest
/// vouched for with FUSE_CREATE_SUPP_GROUP): keeping them is CVE-2022-0358, where a caller outside
/// a root-group SGID directory's group could create a root-group SGID executable because the
/// daemon's group 0 made the kernel keep the bit.
/// </summary>
/// <remarks>
/// Credentials are per thread in the kernel; the raw syscalls (not glibc's wrappers, which change
/// every thread) keep the change on this request's thread, and <see cref="Scope.Dispose"/> restores
/// them before the thread serves anything else. A fsuid other than 0 also drops the filesystem
/// capabilities (CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID...) for the thread, as a local process of that uid would lack them.
/// </remarks>
internal sealed class Credentials
{
    private readonly ILogger _log;
    private readonly uint _uid;
    private readonly uint _gid;
    private readonly uint[] _groups;

    public Credentials(ILogger log)
    {
        _log = log;
        _uid = Libc.Geteuid();
        _gid = Libc.Getegid();
        int n = Libc.GetGroupsThread(default);
        uint[] groups = n > 0 ? new uint[n] : [];
        if (n > 0)
        {
            n = Libc.GetGroupsThread(groups);
        }
        _groups = n > 0 ? groups[..n] : [];
        CanSwitch = _uid == 0;
    }

    /// <summary>Only a root daemon can act as other users; an unprivileged one creates everything as itself.</summary>
    public bool CanSwitch { get; }

    /// <summary>
    /// Becomes the caller for filesystem purposes. A guest root caller keeps the daemon's identity
    /// (it has every capability either way). Returns the scope; check <see cref="Scope.Error"/>.
    /// </summary>
    public Scope Enter(in RequestContext ctx)
    {
        if (!CanSwitch || (ctx.Uid == 0 && ctx.Gid == 0))
        {
            return default;
        }
        Span<uint> supp = stackalloc uint[1];
        int count = 0;
        if (ctx.SupplementaryGroup is uint sg)
        {
            supp[0] = sg;
            count = 1;
        }
        int r = Libc.SetGroupsThread(supp[..count]);
        if (r < 0)
        {
            // Nothing changed yet: nothing to restore.
            _log.Warning("setgroups for a guest caller failed: {Error}", Errno.Describe(r));
            return new Scope(null, r);
        }
        Libc.SetFsGidThread(ctx.Gid);
        Libc.SetFsUidThread(ctx.Uid);
        // setfsuid/setfsgid report no errors: read the values back to be sure they took.
        if (Libc.SetFsUidThread(uint.MaxValue) != ctx.Uid || Libc.SetFsGidThread(uint.MaxValue) != ctx.Gid)
        {
            Restore();
            return new Scope(null, -Errno.EPERM);
        }
        return new Scope(this, 0);
    }

    private void Restore()
    {
        Libc.SetFsUidThread(_uid);
        Libc.SetFsGidThread(_gid);
        int r = Libc.SetGroupsThread(_groups);
        if (r < 0 || Libc.SetFsUidThread(uint.MaxValue) != _uid || Libc.SetFsGidThread(uint.MaxValue) != _gid)
        {
            // A worker thread left with a guest caller's identity would serve the next request
            // (maybe another caller's) with the wrong rights; no request can be answered safely.
            _log.Fatal("could not restore the daemon's credentials on a worker thread: {Error}", Errno.Describe(r));
            Environment.FailFast("virtiofsd: could not restore thread credentials");
        }
    }

    /// <summary>The caller's identity on this thread until disposed.</summary>
    public readonly struct Scope : IDisposable
    {
        private readonly Credentials? _owner;

        internal Scope(Credentials? owner, int error)
        {
            _owner = error == 0 ? owner : null;
            Error = error;
        }

        /// <summary>0, or -errno when the identity could not be taken (nothing to undo then).</summary>
        public int Error { get; }

        public void Dispose() => _owner?.Restore();
    }
}
