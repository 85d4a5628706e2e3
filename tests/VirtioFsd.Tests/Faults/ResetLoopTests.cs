using VirtioFsd.Fuse.Abi;
using VirtioFsd.Linux;
using VirtioFsd.Tests.Engine;
using VirtioFsd.Tests.Process;
using VirtioFsd.VhostUserFrontend;
using Xunit.Abstractions;

namespace VirtioFsd.Tests.Faults;

/// <summary>
/// Guest reboots and device restarts over one connection, many times: GET_VRING_BASE with reads in flight
/// and the queues started again, FUSE DESTROY + INIT, RESET_DEVICE with features and queues set up again.
/// The daemon process's open fds must come back to the same count, and its RSS stay flat over a second
/// run of as many cycles. CI runs 2 x 100 cycles; VIRTIOFSD_LONG_TESTS=1 runs 2 x 3,000
/// (VIRTIOFSD_RESET_CYCLES=N any other number).
/// </summary>
public class ResetLoopTests(ITestOutputHelper output)
{
    private const int Payload = 64 * 1024;

    // The GC's default gen0 budget follows the L3 cache size: ~16 MiB here, ~128 MiB on a server part with a
    // large L3 (issue 12 failed on such a machine). The daemon runs as if on one, so that a budget the daemon does
    // not bound shows here as well: RSS then climbs by ~125 KiB a cycle until the first collection.
    private static readonly Dictionary<string, string> LargeCacheGc = new() { ["DOTNET_GCgen0size"] = "0x8000000" };

    [SkippableTheory]
    [InlineData("io-uring")]
    [InlineData("sync")]
    public void Stop_restart_reinit_and_reset_cycles_keep_fds_and_rss_flat(string engine)
    {
        int cycles = int.TryParse(Environment.GetEnvironmentVariable("VIRTIOFSD_RESET_CYCLES"), out int n) ? n
            : ProcUse.LongTests ? 3000 : 100;
        using var t = new TempTree("virtiofsd-reset-loop-");
        var content = new byte[16 * Payload];
        new Random(5).NextBytes(content);
        File.WriteAllBytes(Path.Combine(t.Share, "data"), content);
        using DaemonProcess d = DaemonProcess.Start(["--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", "none", "--io-engine", engine], selfCheck: false, LargeCacheGc);
        using var device = QueueFrontend.Connect(t.Socket, 2, 16, Payload);

        for (int i = 0; i < 20; i++)
        {
            Cycle(device, content, i);
        }
        int fds0 = ProcUse.Fds(d.Pid);
        long rss0 = ProcUse.RssKb(d.Pid);
        for (int i = 20; i < 20 + cycles; i++)
        {
            Cycle(device, content, i);
        }
        int fds1 = ProcUse.Fds(d.Pid);
        long rss1 = ProcUse.RssKb(d.Pid);
        for (int i = 20 + cycles; i < 20 + (2 * cycles); i++)
        {
            Cycle(device, content, i);
        }
        int fds2 = ProcUse.Fds(d.Pid);
        long rss2 = ProcUse.RssKb(d.Pid);

        Assert.Equal(fds0, fds1);
        Assert.Equal(fds0, fds2);
        // The first run warms up (tier-1 code, a heap up to the gen0 budget of 4 MiB); a leak keeps growing: the
        // second run of as many cycles must add no more than that budget, a gen1 and 2% (a 100-cycle run may end
        // before the warm-up: +4.1 MiB seen once). Measured here: io-uring +24 kB
        // and sync +1.6 MiB over the second 3,000 cycles.
        string figures = $"RSS {rss0} kB at the baseline, {rss1} kB after {cycles} cycles, {rss2} kB after {2 * cycles}";
        output.WriteLine($"{engine}: {figures}; fds {fds0}");
        Assert.True(rss2 <= rss1 + (6 * 1024) + (rss1 / 50), figures);
        Assert.True(rss2 <= rss0 + (24 * 1024), figures);
        Assert.DoesNotContain("ERROR", d.Stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// One cycle: INIT, a LOOKUP/OPEN/READ/RELEASE and FORGET; then reads left in flight while every queue is
    /// stopped (GET_VRING_BASE) and started again at the index it returned, and drained; DESTROY; every third
    /// cycle a RESET_DEVICE with SET_FEATURES and the queues set up again (QEMU's vhost_dev_start after a reset).
    /// </summary>
    private static void Cycle(QueueFrontend device, byte[] content, int i)
    {
        QueueDriver q1 = device.Drivers[0], q2 = device.Drivers[1];
        FuseCalls.Init(q1);
        ulong node = FuseCalls.Ok(FuseCalls.Lookup(q2, 1, "data"));
        ulong fh = FuseCalls.Ok(FuseCalls.Open(q2, node, Libc.O_RDONLY));
        bool reset = i % 3 == 2;
        int launched = q1.Launch(Enumerable.Range(0, 8).Select(k => new FuseCall
        {
            Opcode = FuseOpcode.Read,
            Node = node,
            Args = FuseBytes.Of(new FuseReadIn { Fh = fh, Offset = (ulong)(k * Payload), Size = Payload }),
            ReplyPayloadBytes = Payload,
            Verify = (header, _, data) =>
            {
                // A read the device takes only after RESET_DEVICE comes after the reset ended the FUSE session: no
                // session until the next INIT, so EIO, as any request before INIT.
                if (!(reset && header.Error == -Errno.EIO))
                {
                    Assert.Equal(0, header.Error);
                    Assert.Equal(content.AsSpan(k * Payload, Payload).ToArray(), data);
                }
            },
        }));
        Assert.Equal(8, launched);
        var bases = new uint[device.Queues.Count];
        for (int q = 0; q < device.Queues.Count; q++)
        {
            bases[q] = device.Frontend.GetVringBase(q);
        }
        if (reset)
        {
            // The device forgets features and rings (memory stays): what vhost_dev_start sends again.
            device.Frontend.ResetDevice();
            device.Frontend.SetFeatures(device.Frontend.NegotiatedFeatures);
        }
        for (int q = 0; q < device.Queues.Count; q++)
        {
            device.RestartQueue(q, bases[q]);
        }
        device.Queues[1].Notify();
        // Whatever the device had not taken before the stop is taken now; every read is answered once, correctly.
        q1.Run([], 1);
        if (reset)
        {
            // A reset device has forgotten every node (fs.Destroy): the session starts again with INIT.
            return;
        }
        Assert.Equal(0, FuseCalls.Release(q2, node, fh));
        device.SendHiprio(FuseCalls.Forget(node, 1, (ulong)i));
        Assert.Equal(0, FuseCalls.Destroy(q1));
    }
}
