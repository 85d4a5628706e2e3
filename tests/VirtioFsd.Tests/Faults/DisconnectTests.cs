using System.Buffers.Binary;
using VirtioFsd.Linux;
using VirtioFsd.Tests.Engine;
using VirtioFsd.Tests.Process;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.Tests.Faults;

/// <summary>
/// The frontend goes away at the worst moments: part-way through a vhost-user message (with fds in flight)
/// and with FUSE requests in flight on several queues. The daemon, like the Rust virtiofsd, treats that as
/// the end of its one connection: it exits 0 and removes its socket and pid file.
/// </summary>
public class DisconnectTests
{
    public enum Cut
    {
        /// <summary>SET_MEM_TABLE's header only (its 40-byte body never comes), with the memfd attached.</summary>
        HeaderOnly,

        /// <summary>Half of SET_MEM_TABLE's body.</summary>
        HalfBody,

        /// <summary>Half of a header.</summary>
        HalfHeader,

        /// <summary>A whole message whose body is cut after the fd-carrying first part.</summary>
        BodyAfterFds,
    }

    [Theory]
    [InlineData(Cut.HeaderOnly, "none")]
    [InlineData(Cut.HalfBody, "none")]
    [InlineData(Cut.HalfHeader, "none")]
    [InlineData(Cut.BodyAfterFds, "namespace")]
    public void Frontend_closing_inside_a_message_ends_the_daemon_cleanly(Cut cut, string sandbox)
    {
        using var t = new TempTree("virtiofsd-disconnect-");
        using DaemonProcess d = DaemonProcess.Start(["--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", sandbox], selfCheck: false);
        using (GuestRam ram = GuestRam.Single(2 << 20))
        {
            using var frontend = VirtioFsd.VhostUserFrontend.VhostUserFrontend.Connect(t.Socket, ram);
            frontend.Initialize();
            GuestRamRegion region = ram.Regions[0];
            byte[] body = new byte[40];
            BinaryPrimitives.WriteUInt32LittleEndian(body, 1);
            BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(8), region.GuestPhysAddr);
            BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(16), region.Size);
            BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(24), region.UserAddr);
            byte[] message = new byte[Proto.HeaderSize + body.Length];
            BinaryPrimitives.WriteUInt32LittleEndian(message, Req.SetMemTable);
            BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(4), Proto.Version);
            BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(8), (uint)body.Length);
            body.CopyTo(message, Proto.HeaderSize);
            int[] fds = [region.MemFd];
            switch (cut)
            {
                case Cut.HeaderOnly:
                    Assert.True(frontend.Socket.SendRaw(message.AsSpan(0, Proto.HeaderSize), fds));
                    break;
                case Cut.HalfBody:
                    Assert.True(frontend.Socket.SendRaw(message.AsSpan(0, Proto.HeaderSize + 20), fds));
                    break;
                case Cut.HalfHeader:
                    Assert.True(frontend.Socket.SendRaw(message.AsSpan(0, 6), fds));
                    break;
                case Cut.BodyAfterFds:
                    Assert.True(frontend.Socket.SendRaw(message.AsSpan(0, Proto.HeaderSize + 8), fds));
                    Assert.True(frontend.Socket.SendRaw(message.AsSpan(Proto.HeaderSize + 8, 8), []));
                    break;
            }
        }
        Assert.Equal(0, d.WaitForExit());
        Assert.Contains("disconnected inside a message", d.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(t.Socket));
        Assert.False(File.Exists(t.PidFile));
    }

    [Theory]
    [InlineData("none")]
    [InlineData("namespace")]
    public void Frontend_closing_with_reads_writes_and_fsyncs_in_flight_on_two_queues_ends_the_daemon_cleanly(string sandbox)
    {
        const int Size = 256 * 1024;
        using var t = new TempTree("virtiofsd-disconnect-");
        var content = new byte[64 * Size];
        new Random(3).NextBytes(content);
        File.WriteAllBytes(Path.Combine(t.Share, "big"), content);
        using DaemonProcess d = DaemonProcess.Start(["--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", sandbox], selfCheck: false);
        using (var device = QueueFrontend.Connect(t.Socket, 2, 64, Size))
        {
            QueueDriver reads = device.Drivers[0], writes = device.Drivers[1];
            FuseCalls.Init(reads);
            ulong big = FuseCalls.Ok(FuseCalls.Lookup(reads, 1, "big"));
            ulong fh = FuseCalls.Ok(FuseCalls.Open(reads, big, Libc.O_RDONLY));
            (int e, ulong node, ulong wfh) = FuseCalls.Create(writes, 1, "written");
            Assert.Equal(0, e);

            // Fill both queues and leave: nothing is reaped, the daemon is mid-request on both.
            Assert.Equal(64, reads.Launch(Enumerable.Range(0, 64).Select(i => FuseCalls.ReadCall((big, fh), (ulong)(i * Size), Size, _ => { }))));
            var data = new byte[Size];
            Assert.Equal(64, writes.Launch(Enumerable.Range(0, 64).Select(i => i % 4 == 3
                ? FuseCalls.FsyncCall(node, wfh, _ => { })
                : FuseCalls.WriteCall(node, wfh, (ulong)(i * Size), data, (_, _) => { }))));
        }
        Assert.Equal(0, d.WaitForExit());
        Assert.Contains("disconnected", d.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(t.Socket));
    }
}
