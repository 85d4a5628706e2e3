namespace VirtioFsd.Linux.Tests;

/// <summary>The wait-status decoding and the waitpid/pidfd_open wrappers the launch stage waits on its cloned daemon with.</summary>
public class ChildProcessTests
{
    [Theory]
    [InlineData(0x0000, 0)] // exit(0)
    [InlineData(0x0300, 3)] // exit(3)
    [InlineData(0xff00, 255)] // exit(255)
    [InlineData(0x000f, 143)] // killed by SIGTERM
    [InlineData(0x008b, 139)] // killed by SIGSEGV, core dumped
    public void A_wait_status_reads_as_a_shell_reports_it(int status, int expected)
    {
        Assert.Equal(expected, Libc.ExitCodeOf(status));
    }

    [Fact]
    public void Waiting_for_a_process_that_is_not_a_child_is_ECHILD()
    {
        // pid 1 is never this process's child.
        Assert.Equal(-Errno.ECHILD, Libc.WaitPid(1, out _, Libc.WNOHANG));
    }

    [Fact]
    public void A_pidfd_is_not_readable_while_the_process_runs()
    {
        int fd = Libc.PidfdOpen(Libc.GetPid());
        Assert.True(fd >= 0, $"pidfd_open: {fd}");
        using var pidfd = new UnixFd(fd);
        Span<Libc.PollFd> fds = [new Libc.PollFd { Fd = fd, Events = Libc.POLLIN }];
        Assert.Equal(0, Libc.Poll(fds, 0));
        Assert.Equal(-Errno.ESRCH, Libc.PidfdOpen(int.MaxValue));
    }
}
