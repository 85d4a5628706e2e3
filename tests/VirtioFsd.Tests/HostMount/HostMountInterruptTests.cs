using System.Diagnostics;
using VirtioFsd.FuseMount;
using VirtioFsd.Linux;

namespace VirtioFsd.Tests.HostMount;

/// <summary>
/// A process waiting on the mount for a lock another open file holds (FUSE_SETLKW) is interrupted by a
/// signal: the kernel sends FUSE_INTERRUPT (through /dev/fuse on both transports: dev_uring.c leaves
/// interrupts to fuse_dev_queue_interrupt), the server ends the wait with EINTR, and the process's
/// blocking call fails with EINTR, as on a local filesystem. Without that the waiter would stay
/// blocked until the holder lets go (the kernel only abandons a sent request for a fatal signal).
/// </summary>
[Collection(HostMountCollection.Name)]
public sealed class HostMountInterruptTests
{
    public static TheoryData<FuseTransportKind> Transports => new() { FuseTransportKind.Dev, FuseTransportKind.Uring };

    /// <summary>How long the waiter is given in all: far more than its 1 s timer, far less than a hang.</summary>
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    [SkippableTheory]
    [MemberData(nameof(Transports))]
    public void A_signal_ends_a_flock_wait_with_EINTR(FuseTransportKind transport)
    {
        using var s = new HostMountSession(transport);
        string path = Path.Combine(s.MountPoint, "flocked");
        File.WriteAllText(path, "x");
        int holder = Libc.OpenAbsolute(path, Libc.O_RDWR | Libc.O_CLOEXEC);
        try
        {
            Assert.Equal(0, Libc.Flock(holder, Libc.LOCK_EX | Libc.LOCK_NB));
            // util-linux flock(1) --wait arms a timer whose SIGALRM handler has no SA_RESTART, so an interrupted
            // flock(2) returns EINTR and it exits with the conflict code (7 here), saying "timeout while waiting".
            (int code, string output, TimeSpan took) = Run("flock", "--verbose", "--conflict-exit-code", "7", "--exclusive", "--wait", "1", path, "true");
            Assert.True(code == 7, $"flock(1) exited {code} after {took}: {output}");
            Assert.Contains("timeout", output, StringComparison.OrdinalIgnoreCase);

            // The lock is still served normally afterwards: released, the next waiter gets it at once.
            Assert.Equal(0, Libc.Flock(holder, Libc.LOCK_UN));
            (code, output, _) = Run("flock", "--exclusive", "--wait", "5", path, "true");
            Assert.True(code == 0, $"flock(1) on a free lock exited {code}: {output}");
        }
        finally
        {
            Libc.Close(holder);
        }
        s.AssertTransport(transport);
    }

    [SkippableTheory]
    [MemberData(nameof(Transports))]
    public void A_signal_ends_an_fcntl_SETLKW_wait_with_EINTR(FuseTransportKind transport)
    {
        using var s = new HostMountSession(transport);
        string path = Path.Combine(s.MountPoint, "locked");
        File.WriteAllText(path, "x");
        int holder = Libc.OpenAbsolute(path, Libc.O_RDWR | Libc.O_CLOEXEC);
        try
        {
            var lk = new Flock { Type = Libc.F_WRLCK, Start = 0, Len = 0 };
            Assert.Equal(0, Libc.FcntlLock(holder, Libc.F_OFD_SETLK, ref lk));
            // perl (Debian's essential perl-base): F_SETLKW on the whole file, SIGALRM after 1 s (perl's handlers
            // have no SA_RESTART); exit 3 for EINTR, 0 for a granted lock, 4 for anything else.
            const string script = """
                use Fcntl; open(my $f, "+<", $ARGV[0]) or exit 5; $SIG{ALRM} = sub {}; alarm 1;
                my $lk = pack("s s x4 q q l x4", F_WRLCK, 0, 0, 0, 0);
                exit 0 if fcntl($f, F_SETLKW, $lk); exit($!{EINTR} ? 3 : 4);
                """;
            (int code, string output, TimeSpan took) = Run("perl", "-e", script, path);
            Assert.True(code == 3, $"perl's F_SETLKW ended with {code} after {took}: {output}");

            lk.Type = Libc.F_UNLCK;
            Assert.Equal(0, Libc.FcntlLock(holder, Libc.F_OFD_SETLK, ref lk));
            (code, output, _) = Run("perl", "-e", script, path);
            Assert.True(code == 0, $"perl's F_SETLKW on a free lock ended with {code}: {output}");
        }
        finally
        {
            Libc.Close(holder);
        }
        s.AssertTransport(transport);
    }

    private static (int Code, string Output, TimeSpan Took) Run(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        var clock = Stopwatch.StartNew();
        using var p = System.Diagnostics.Process.Start(psi)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(Limit))
        {
            // A request the server holds is waited out even by SIGKILL (fs/fuse/dev.c request_wait_answer), so
            // the process ends only once the caller's finally releases the lock; do not wait for it here.
            p.Kill();
            Assert.Fail($"{program} still waited for the lock after {Limit.TotalSeconds} s: the interrupt did not end the wait");
        }
        return (p.ExitCode, stdout.Result + stderr.Result, clock.Elapsed);
    }
}
