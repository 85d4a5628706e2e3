using System.Runtime.InteropServices;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Tests.Engine;
using VirtioFsd.Tests.Process;

namespace VirtioFsd.Tests.Faults;

/// <summary>
/// Many large requests at once: READDIR and READDIRPLUS with 1 MiB buffers and sizes up to u32 max, 32 in
/// flight on each of two queues, each on its own directory handle. The daemon writes entries straight
/// into guest memory, so its own (anonymous) memory must stay bounded whatever the guest asks for.
/// </summary>
public class BoundedMemoryTests
{
    private const int Buffer = 1 << 20;
    private const int InFlight = 32;

    [SkippableTheory]
    [InlineData("io-uring")]
    [InlineData("sync")]
    public void Huge_directory_reads_many_at_once_keep_the_daemon_memory_bounded(string engine)
    {
        using var t = new TempTree("virtiofsd-bounded-memory-");
        string big = Path.Combine(t.Share, "big");
        Directory.CreateDirectory(big);
        for (int i = 0; i < 2000; i++)
        {
            // Long names: the listing fills most of a 1 MiB buffer (READDIRPLUS records of ~350 bytes).
            File.WriteAllBytes(Path.Combine(big, $"{i:D6}-" + new string('n', 180)), []);
        }
        using DaemonProcess d = DaemonProcess.Start(["--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", "none", "--io-engine", engine], selfCheck: false);
        using var device = QueueFrontend.Connect(t.Socket, 2, InFlight, Buffer);
        QueueDriver first = device.Drivers[0];
        FuseCalls.Init(first);
        (int e, ulong dir) = FuseCalls.Lookup(first, 1, "big");
        Assert.Equal(0, e);

        Round(device, dir, 0);
        long anon0 = RssAnonKb(d.Pid);
        long peak = anon0;
        for (int round = 1; round <= 2; round++)
        {
            Round(device, dir, round);
            peak = Math.Max(peak, RssAnonKb(d.Pid));
        }

        // 64 requests of 1 MiB in flight: a daemon that buffered each reply would need 64 MiB more.
        Assert.True(peak <= anon0 + (32 * 1024), $"anonymous RSS {anon0} kB after the first round, {peak} kB at the peak");
        Assert.False(d.HasExited);
    }

    /// <summary>Per queue: 32 OPENDIRs, then 32 READDIR(PLUS) at once, then RELEASEDIR of each handle.</summary>
    private static void Round(QueueFrontend device, ulong dir, int round)
    {
        var threads = device.Drivers.Select((q, index) => new Thread(() =>
        {
            var handles = new ulong[InFlight];
            for (int i = 0; i < InFlight; i++)
            {
                (int e, byte[] a) = FuseCalls.Call(q, FuseOpcode.OpenDir, dir, FuseBytes.Of(new FuseOpenIn()), Marshal.SizeOf<FuseOpenOut>());
                Assert.Equal(0, e);
                handles[i] = MemoryMarshal.Read<FuseOpenOut>(a).Fh;
            }
            int answered = q.Run(handles.Select((fh, i) => new FuseCall
            {
                Opcode = (i + round + index) % 2 == 0 ? FuseOpcode.ReadDirPlus : FuseOpcode.ReadDir,
                Node = dir,
                // Sizes up to u32 max: the reply is bounded by the guest's buffer, not by what it asks.
                Args = FuseBytes.Of(new FuseReadIn { Fh = fh, Size = i % 3 == 0 ? uint.MaxValue : Buffer }),
                ReplyPayloadBytes = Buffer,
                Verify = (h, _, data) =>
                {
                    Assert.Equal(0, h.Error);
                    Assert.True(data.Length > Buffer / 4, $"a listing of {data.Length} bytes");
                },
            }), InFlight);
            Assert.Equal(InFlight, answered);
            foreach (ulong fh in handles)
            {
                Assert.Equal(0, FuseCalls.Release(q, dir, fh, directory: true));
            }
        }));
        List<Thread> started = [.. threads];
        started.ForEach(th => th.Start());
        started.ForEach(th => th.Join());
    }

    /// <summary>RssAnon: the daemon's own memory, without the guest RAM it maps (RssShmem) or its binaries (RssFile).</summary>
    private static long RssAnonKb(int pid)
    {
        string line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("RssAnon:", StringComparison.Ordinal));
        return long.Parse(line[8..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
    }
}
