using System.Diagnostics;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Linux;
using VirtioFsd.Tests.Engine;
using VirtioFsd.Tests.Process;

namespace VirtioFsd.Tests.Faults;

/// <summary>
/// Errors of the host filesystem reach the guest as the errno the host gave (ENOSPC from a full tmpfs,
/// EIO from a file whose reads and writes fail), the daemon keeps serving, and data the guest fsynced is
/// on the host even when the daemon is killed right after. Needs root (mounts), as the CI runs.
/// </summary>
public class HostErrorTests
{
    [SkippableTheory]
    [InlineData("io-uring")]
    [InlineData("sync")]
    public void Full_tmpfs_gives_enospc_for_write_fallocate_and_create_and_recovers_after_unlink(string engine)
    {
        using var t = new TempTree("virtiofsd-host-error-");
        string share = Path.Combine(t.Root, "small");
        Directory.CreateDirectory(share);
        using var mount = SmallTmpfs.Mount(share, "size=1m,nr_inodes=24");
        using DaemonProcess d = DaemonProcess.Start(["--shared-dir", share, "--socket-path", t.Socket, "--sandbox", "none", "--io-engine", engine], selfCheck: false);
        using var device = QueueFrontend.Connect(t.Socket, 1, 8, 256 * 1024);
        QueueDriver q = device.Drivers[0];
        FuseCalls.Init(q);

        // WRITE until the 1 MiB filesystem is full: the last one fails with ENOSPC (after a short write or not).
        (int e, ulong node, ulong fh) = FuseCalls.Create(q, 1, "big");
        Assert.Equal(0, e);
        var chunk = new byte[256 * 1024];
        ulong written = 0;
        int error = 0;
        for (int i = 0; i < 16 && error == 0; i++)
        {
            (error, uint n) = FuseCalls.Write(q, node, fh, written, chunk);
            written += n;
        }
        Assert.Equal(-Errno.ENOSPC, error);
        Assert.InRange(written, 1UL, 1UL << 20);

        // FALLOCATE past the size, and CREATE past nr_inodes.
        (e, ulong other, ulong otherFh) = FuseCalls.Create(q, 1, "other");
        Assert.Equal(0, e);
        Assert.Equal(-Errno.ENOSPC, FuseCalls.Fallocate(q, other, otherFh, 0, 4 << 20));
        int createError = 0;
        var created = 0;
        for (int i = 0; i < 64 && createError == 0; i++)
        {
            (createError, ulong n, ulong h) = FuseCalls.Create(q, 1, $"n{i}");
            if (createError == 0)
            {
                created++;
                Assert.Equal(0, FuseCalls.Release(q, n, h));
            }
        }
        Assert.Equal(-Errno.ENOSPC, createError);
        Assert.InRange(created, 1, 24);

        // The guest frees space (UNLINK, and the FORGET that lets the daemon close its O_PATH fd of the
        // unlinked inode, which keeps the blocks allocated until then): writing works again.
        Assert.Equal(0, FuseCalls.Release(q, node, fh));
        Assert.Equal(0, FuseCalls.Call(q, FuseOpcode.Unlink, 1, FuseBytes.Name("big"), 0).Error);
        device.SendHiprio(FuseCalls.Forget(node, 1, 1000));
        Assert.Equal((0, (uint)chunk.Length), FuseCalls.Write(q, other, otherFh, 0, chunk));
        Assert.Equal(0, FuseCalls.Fsync(q, other, otherFh));
        Assert.False(d.HasExited);
    }

    /// <summary>
    /// EIO from the host: the share holds a bind mount of a process's /proc/PID/mem, a regular file whose
    /// read and write at offset 0 (an unmapped address) fail with EIO in the kernel (fs/proc/base.c
    /// mem_rw). No device-mapper here for dm-error; the path from a failed pread/pwrite to the reply is
    /// the same for every errno.
    /// </summary>
    [SkippableTheory]
    [InlineData("io-uring")]
    [InlineData("sync")]
    public void Eio_from_the_host_file_reaches_the_guest_and_the_daemon_keeps_serving(string engine)
    {
        using var t = new TempTree("virtiofsd-host-error-");
        string mem = Path.Combine(t.Share, "mem");
        File.WriteAllBytes(mem, []);
        // Without capabilities of its own: opening another process's mem needs the opener's permitted set to
        // cover the target's (ptrace access rules), and the daemon, as root, keeps only the serving set.
        using var sleeper = System.Diagnostics.Process.Start(new ProcessStartInfo("setpriv", "--inh-caps=-all --bounding-set=-all -- sleep 300") { UseShellExecute = false })!;
        try
        {
            Assert.Equal(0, Libc.Mount($"/proc/{sleeper.Id}/mem", mem, null, Libc.MS_BIND));
            try
            {
                using DaemonProcess d = DaemonProcess.Start(["--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", "none", "--io-engine", engine], selfCheck: false);
                using var device = QueueFrontend.Connect(t.Socket, 1, 8, 64 * 1024);
                QueueDriver q = device.Drivers[0];
                FuseCalls.Init(q);
                (int e, ulong node) = FuseCalls.Lookup(q, 1, "mem");
                Assert.Equal(0, e);
                (e, ulong fh) = FuseCalls.Open(q, node, Libc.O_RDWR);
                Assert.Equal(0, e);

                int readError = 1;
                FuseCalls.RunOne(q, new FuseCall
                {
                    Opcode = FuseOpcode.Read,
                    Node = node,
                    Args = FuseBytes.Of(new FuseReadIn { Fh = fh, Offset = 0, Size = 4096 }),
                    ReplyPayloadBytes = 4096,
                    Verify = (h, _, _) => readError = h.Error,
                });
                Assert.Equal(-Errno.EIO, readError);
                Assert.Equal(-Errno.EIO, FuseCalls.Write(q, node, fh, 0, new byte[4096]).Error);

                // Other files are served as before.
                Assert.Equal(0, FuseCalls.Release(q, node, fh));
                (e, ulong a) = FuseCalls.Lookup(q, 1, "a-file");
                Assert.Equal(0, e);
                Assert.Equal(0, FuseCalls.Getattr(q, a));
                Assert.False(d.HasExited);
            }
            finally
            {
                Libc.Umount2(mem, Libc.MNT_DETACH);
            }
        }
        finally
        {
            sleeper.Kill();
            sleeper.WaitForExit();
        }
    }

    [SkippableTheory]
    [InlineData("io-uring")]
    [InlineData("sync")]
    public void Data_fsynced_before_the_daemon_is_killed_is_on_the_host(string engine)
    {
        using var t = new TempTree("virtiofsd-host-error-");
        var data = new byte[1 << 20];
        new Random(11).NextBytes(data);
        using DaemonProcess d = DaemonProcess.Start(["--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", "none", "--io-engine", engine], selfCheck: false);
        using (var device = QueueFrontend.Connect(t.Socket, 1, 8, 256 * 1024))
        {
            QueueDriver q = device.Drivers[0];
            FuseCalls.Init(q);
            (int e, ulong node, ulong fh) = FuseCalls.Create(q, 1, "durable");
            Assert.Equal(0, e);
            int answered = q.Run(Enumerable.Range(0, 4).Select(i => FuseCalls.WriteCall(node, fh, (ulong)(i * 256 * 1024),
                data.AsSpan(i * 256 * 1024, 256 * 1024).ToArray(), (err, n) => Assert.Equal((0, 256u * 1024), (err, n)))), 4);
            Assert.Equal(4, answered);
            Assert.Equal(0, FuseCalls.Fsync(q, node, fh));

            // No RELEASE, no FLUSH, no DESTROY: the process dies at once.
            d.Signal(Libc.SIGKILL);
            Assert.NotEqual(0, d.WaitForExit());
        }
        Assert.Equal(data, File.ReadAllBytes(Path.Combine(t.Share, "durable")));
    }
}

/// <summary>A tmpfs mounted for one test with the given options (mount(8)), detached afterwards.</summary>
internal sealed class SmallTmpfs : IDisposable
{
    private readonly string _target;

    private SmallTmpfs(string target) => _target = target;

    public static SmallTmpfs Mount(string target, string options)
    {
        using var mount = System.Diagnostics.Process.Start(new ProcessStartInfo("mount", ["-t", "tmpfs", "-o", options, "tmpfs", target])
        {
            UseShellExecute = false,
            RedirectStandardError = true,
        })!;
        string err = mount.StandardError.ReadToEnd();
        mount.WaitForExit();
        Assert.True(mount.ExitCode == 0, $"mount -t tmpfs -o {options} (needs root): {err}");
        return new SmallTmpfs(target);
    }

    public void Dispose() => Libc.Umount2(_target, Libc.MNT_DETACH);
}
