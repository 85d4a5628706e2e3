using Serilog;
using VirtioFsd.Linux;

namespace VirtioFsd.Lifecycle;

/// <summary>
/// In the sandboxed child: blocks on the read end of a pipe whose only write end the launch stage holds.
/// When the launch stage dies for any reason (even SIGKILL, which it cannot forward), read returns EOF
/// and the daemon stops, so it never serves on orphaned after its pid file lock is gone.
/// </summary>
internal static class ParentWatch
{
    public static void Start(int pipeFd, StopSignals signals, ILogger log)
    {
        ArgumentNullException.ThrowIfNull(signals);
        ArgumentNullException.ThrowIfNull(log);
        Libc.Fcntl(pipeFd, Libc.F_SETFD, Libc.FD_CLOEXEC);
        var thread = new Thread(() =>
        {
            Span<byte> buffer = stackalloc byte[16];
            long r;
            do
            {
                r = Libc.Read(pipeFd, buffer);
            }
            while (r > 0);
            log.Information("The launch stage exited; stopping");
            signals.Stop();
        })
        {
            IsBackground = true,
            Name = "parent-watch",
        };
        thread.Start();
    }
}
