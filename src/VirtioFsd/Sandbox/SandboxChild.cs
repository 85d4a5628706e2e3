using System.Diagnostics;
using VirtioFsd.Linux;

namespace VirtioFsd.Sandbox;

/// <summary>
/// The process the launch stage started and waits for: the re-executed program itself (chroot, and namespace in
/// the NativeAOT binary), or unshare(1) with the daemon as its forked child (namespace in the JIT build).
/// </summary>
internal abstract class SandboxChild : IDisposable
{
    private readonly UnixFd _pidfd;

    /// <summary>Takes the child's pidfd at once: not reaped yet, so the pid is still the child's.</summary>
    protected SandboxChild(int pid)
    {
        _pidfd = new UnixFd(Libc.PidfdOpen(pid));
    }

    public abstract int Id { get; }

    /// <summary>
    /// A pidfd of the child, readable once it has exited; -1 without pidfds (Linux before 5.3). The launch stage's
    /// idle wait and <see cref="Spawned"/>'s timed waits poll this one descriptor.
    /// </summary>
    public int Pidfd => _pidfd.Value;

    /// <summary>The serving daemon's pid, or null while unshare(1) has not forked it yet.</summary>
    public abstract int? Daemon { get; }

    /// <summary>Exit status, or 128 + the signal that ended it. Valid once a wait returned true.</summary>
    public abstract int ExitCode { get; }

    /// <summary>Reaps the child if it has exited within <paramref name="timeout"/> (infinite: -1 ms).</summary>
    public abstract bool WaitForExit(TimeSpan timeout);

    public virtual void Dispose() => _pidfd.Dispose();

    /// <summary>A child started with <see cref="Process.Start(ProcessStartInfo)"/>.</summary>
    public sealed class Started(Process process, bool throughUnshare) : SandboxChild(process.Id)
    {
        public override int Id => process.Id;

        public override int? Daemon => throughUnshare ? SandboxLauncher.FirstChild(process.Id) : process.Id;

        public override int ExitCode => process.ExitCode;

        public override bool WaitForExit(TimeSpan timeout) => process.WaitForExit(timeout);

        public override void Dispose()
        {
            base.Dispose();
            process.Dispose();
        }
    }

    /// <summary>A child <see cref="NamespaceSpawn"/> cloned: waited for through its pidfd and reaped with waitpid(2).</summary>
    public sealed class Spawned : SandboxChild
    {
        private readonly int _pid;
        private int? _exitCode;

        public Spawned(int pid)
            : base(pid)
        {
            _pid = pid;
        }

        public override int Id => _pid;

        public override int? Daemon => _pid;

        public override int ExitCode => _exitCode ?? throw new InvalidOperationException("the child has not exited");

        /// <remarks>Without a pidfd the wait sleeps in 100 ms slices.</remarks>
        public override bool WaitForExit(TimeSpan timeout)
        {
            long deadline = timeout < TimeSpan.Zero ? long.MaxValue : Environment.TickCount64 + (long)timeout.TotalMilliseconds;
            while (!TryReap())
            {
                long left = deadline - Environment.TickCount64;
                if (left <= 0)
                {
                    return false;
                }
                if (Pidfd >= 0)
                {
                    Span<Libc.PollFd> fds = [new Libc.PollFd { Fd = Pidfd, Events = Libc.POLLIN }];
                    Libc.Poll(fds, (int)Math.Min(left, int.MaxValue));
                }
                else
                {
                    Thread.Sleep((int)Math.Min(left, 100));
                }
            }
            return true;
        }

        private bool TryReap()
        {
            if (_exitCode is not null)
            {
                return true;
            }
            int r = Libc.WaitPid(_pid, out int status, Libc.WNOHANG);
            if (r == 0)
            {
                return false;
            }
            // ECHILD: something else reaped it (a SIGCHLD that was ignored when this program started makes the
            // runtime reap every child). Its status is lost: reported as a failure.
            _exitCode = r == _pid ? Libc.ExitCodeOf(status) : 1;
            return true;
        }
    }
}
