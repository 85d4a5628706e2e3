using System.Buffers.Binary;
using Serilog;
using VirtioFsd.Cli;
using VirtioFsd.Device;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Fuzz.Support;
using VirtioFsd.Linux;
using VirtioFsd.VhostUser.Server;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.Fuzz.Targets;

/// <summary>
/// vhost-user messages against the daemon's real device (<see cref="VirtioFsDevice"/> over a
/// passthrough share): a connection over a socketpair, sometimes after a valid handshake (features,
/// memory, started queues), then a stream of messages with random request codes, flags, header
/// sizes and bodies (pure noise or well-formed structures with random fields) carrying random fds of
/// every kind a frontend can send (memfds of any size, sealed or not, eventfds, /dev/null, sockets,
/// pipes, O_PATH directories).
/// Invariants: no exception escapes the server; the connection ends when the frontend leaves, with
/// every queue stopped; no fd stays open afterwards (ours or the ones we sent).
/// </summary>
public sealed class VhostUserMessageTarget : FuzzTarget
{
    /// <summary>Requests with a known shape (vhost_user.h numbering), drawn more often than noise codes.</summary>
    private static readonly uint[] KnownRequests =
    [
        Req.GetFeatures, Req.SetFeatures, Req.SetOwner, Req.ResetOwner, Req.SetMemTable, Req.SetLogBase, Req.SetLogFd,
        Req.SetVringNum, Req.SetVringAddr, Req.SetVringBase, Req.GetVringBase, Req.SetVringKick, Req.SetVringCall,
        Req.SetVringErr, Req.GetProtocolFeatures, Req.SetProtocolFeatures, Req.GetQueueNum, Req.SetVringEnable,
        Req.SetBackendReqFd, Req.GetConfig, Req.SetConfig, Req.ResetDevice, Req.GetMaxMemSlots, Req.AddMemReg,
        Req.RemMemReg, Req.SetStatus, Req.GetStatus, 42 /* SET_DEVICE_STATE_FD */, 43 /* CHECK_DEVICE_STATE */,
    ];

    private readonly TempDirectory _share = new("virtiofsd-fuzz-vhost-user-");
    private readonly PassthroughFileSystem _fs;
    private readonly FuseServer _server;
    private readonly ILogger _log = new LoggerConfiguration().CreateLogger();

    public VhostUserMessageTarget()
    {
        _fs = new PassthroughFileSystem(new PassthroughOptions { SharedDirectory = _share.Path }, _log);
        _server = new FuseServer(_fs, new FuseServerOptions(), _log);
    }

    public override string Name => FuzzTargets.VhostUserMessages;

    protected override void Run(Random rng, long seed)
    {
        var device = new VirtioFsDevice(_server, new DeviceOptions { IoEngine = IoEngineKind.Sync }, _log);
        var vhost = new VhostUserServer(device, _log);
        if (Libc.SocketPair(Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, out int serverFd, out int frontendFd) < 0)
        {
            throw new InvalidOperationException("socketpair failed");
        }
        Exception? escaped = null;
        var thread = new Thread(() =>
        {
            try
            {
                vhost.Serve(new UnixFd(serverFd));
            }
#pragma warning disable CA1031 // An exception out of the server is the finding: carried to the case's check.
            catch (Exception e)
#pragma warning restore CA1031
            {
                escaped = e;
            }
        })
        { IsBackground = true, Name = "fuzz-vhost-user" };
        thread.Start();

        using var ram = new GuestRam();
        ram.AddRegion(0, 0x40000);
        if (rng.Next(3) == 0)
        {
            ram.AddRegion(0x40000 + (rng.Next(2) == 0 ? 0UL : 0x10000UL), 0x20000);
        }
        var queues = new List<FrontendQueue>();
        var fds = new List<int>();
        var frontend = new VhostUserFrontend.VhostUserFrontend(new FrontendSocket(frontendFd), ram) { ThrowOnNack = false };
        try
        {
            try
            {
                Prefix(rng, frontend, ram, queues);
            }
            catch (VhostUserFrontendException)
            {
                // The device refused part of a handshake (e.g. a second SET_MEM_TABLE layout): carry on with noise.
            }
            int messages = rng.Next(1, 30);
            for (int m = 0; m < messages; m++)
            {
                SendOne(rng, frontend, ram, fds);
            }
        }
        finally
        {
            frontend.Dispose();
            bool ended = thread.Join(TimeSpan.FromSeconds(30));
            foreach (int fd in fds)
            {
                Libc.Close(fd);
            }
            foreach (FrontendQueue q in queues)
            {
                q.Dispose();
            }
            FuzzInvariantException.Check(ended, "the server did not end the connection after the frontend left");
        }
        FuzzInvariantException.Check(escaped is null, $"exception escaped the server: {escaped}");
    }

    /// <summary>Nothing, the initial feature exchange, or a full bring-up with one or two started queues.</summary>
    private static void Prefix(Random rng, VhostUserFrontend.VhostUserFrontend frontend, GuestRam ram, List<FrontendQueue> queues)
    {
        int depth = rng.Next(4);
        if (depth == 0)
        {
            return;
        }
        frontend.Initialize();
        if (depth == 1)
        {
            return;
        }
        frontend.ShareMemory();
        if (depth == 2)
        {
            return;
        }
        var alloc = GuestAllocator.ForRegion(ram.Regions[0]);
        for (int q = 0; q < rng.Next(1, 3); q++)
        {
            FrontendQueue fq = FrontendQueue.Allocate(q, 16, alloc);
            queues.Add(fq);
            frontend.StartQueue(fq);
            if (rng.Next(2) == 0)
            {
                fq.Notify();
            }
        }
    }

    private static void SendOne(Random rng, VhostUserFrontend.VhostUserFrontend frontend, GuestRam ram, List<int> owned)
    {
        uint request = rng.Next(5) == 0 ? (uint)rng.Next(0, 64) : KnownRequests[rng.Next(KnownRequests.Length)];
        byte[] body = rng.Next(5) == 0 ? Noise(rng) : Shaped(rng, request, ram);
        uint flags = rng.Next(12) == 0 ? (uint)rng.Next() : Proto.Version | (rng.Next(2) == 0 ? Proto.NeedReplyFlag : 0);
        int[] fds = new int[rng.Next(8) == 0 ? rng.Next(0, 9) : rng.Next(0, 3)];
        for (int i = 0; i < fds.Length; i++)
        {
            fds[i] = i == 0 && request is Req.SetMemTable or Req.AddMemReg && rng.Next(2) == 0
                ? ram.Regions[rng.Next(ram.Regions.Count)].MemFd
                : RandomFd(rng, owned);
        }
        if (rng.Next(10) == 0)
        {
            // A header whose size field lies (shorter, longer or beyond the 4 KiB body limit).
            byte[] raw = new byte[Proto.HeaderSize + body.Length];
            BinaryPrimitives.WriteUInt32LittleEndian(raw, request);
            BinaryPrimitives.WriteUInt32LittleEndian(raw.AsSpan(4), flags);
            BinaryPrimitives.WriteUInt32LittleEndian(raw.AsSpan(8), rng.Next(3) == 0 ? (uint)rng.Next() : (uint)rng.Next(0, body.Length + 64));
            body.CopyTo(raw, Proto.HeaderSize);
            frontend.Socket.SendRaw(raw, fds);
        }
        else
        {
            frontend.Socket.Send(request, flags, body, fds);
        }
    }

    private static byte[] Noise(Random rng)
    {
        byte[] body = new byte[rng.Next(3) == 0 ? rng.Next(0, 300) : rng.Next(0, 6) * 8];
        rng.NextBytes(body);
        return body;
    }

    /// <summary>The request's body layout (vhost-user.rst) with random but often plausible values.</summary>
    private static byte[] Shaped(Random rng, uint request, GuestRam ram)
    {
        switch (request)
        {
            case Req.SetMemTable:
            {
                int count = rng.Next(6) == 0 ? rng.Next(0, 12) : rng.Next(1, 3);
                byte[] body = new byte[8 + (32 * count)];
                BinaryPrimitives.WriteUInt32LittleEndian(body, (uint)(rng.Next(6) == 0 ? rng.Next() : count));
                for (int i = 0; i < count; i++)
                {
                    Region(rng, ram, body.AsSpan(8 + (32 * i)));
                }
                return body;
            }
            case Req.AddMemReg:
            case Req.RemMemReg:
            {
                byte[] body = new byte[40];
                Region(rng, ram, body.AsSpan(8));
                return body;
            }
            case Req.SetVringAddr:
            {
                byte[] body = new byte[40];
                BinaryPrimitives.WriteUInt32LittleEndian(body, (uint)rng.Next(0, 4));
                BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(4), rng.Next(4) == 0 ? (uint)rng.Next(0, 4) : 0);
                for (int i = 0; i < 4; i++)
                {
                    BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(8 + (8 * i)), UserAddress(rng, ram));
                }
                return body;
            }
            case Req.SetVringNum:
            case Req.SetVringBase:
            case Req.GetVringBase:
            case Req.SetVringEnable:
            {
                byte[] body = new byte[8];
                BinaryPrimitives.WriteUInt32LittleEndian(body, (uint)(rng.Next(6) == 0 ? rng.Next() : rng.Next(0, 4)));
                BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(4), rng.Next(3) switch
                {
                    0 => (uint)rng.Next(),
                    1 => (uint)(1 << rng.Next(0, 16)),
                    _ => (uint)rng.Next(0, 3),
                });
                return body;
            }
            case Req.SetVringKick:
            case Req.SetVringCall:
            case Req.SetVringErr:
            {
                byte[] body = new byte[8];
                ulong index = (uint)rng.Next(0, 4) | (rng.Next(3) == 0 ? Proto.VringNoFd : 0UL);
                BinaryPrimitives.WriteUInt64LittleEndian(body, rng.Next(8) == 0 ? (ulong)rng.NextInt64() : index);
                return body;
            }
            case Req.GetConfig:
            case Req.SetConfig:
            {
                int payload = rng.Next(0, 300);
                byte[] body = new byte[12 + payload];
                BinaryPrimitives.WriteUInt32LittleEndian(body, (uint)rng.Next(0, 300));
                BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(4), rng.Next(4) == 0 ? (uint)rng.Next() : (uint)payload);
                BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(8), (uint)rng.Next(0, 3));
                rng.NextBytes(body.AsSpan(12));
                return body;
            }
            case Req.SetLogBase:
            {
                byte[] body = new byte[16];
                BinaryPrimitives.WriteUInt64LittleEndian(body, (ulong)rng.Next(0, 1 << 20));
                BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(8), (ulong)rng.Next(0, 1 << 20));
                return body;
            }
            case Req.GetFeatures:
            case Req.GetProtocolFeatures:
            case Req.GetQueueNum:
            case Req.GetMaxMemSlots:
            case Req.GetStatus:
            case Req.SetOwner:
            case Req.ResetOwner:
            case Req.ResetDevice:
            case Req.SetBackendReqFd:
            case Req.SetLogFd:
                return rng.Next(4) == 0 ? Noise(rng) : [];
            default:
            {
                byte[] body = new byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(body, rng.Next(2) == 0 ? (ulong)rng.NextInt64() : (ulong)rng.Next(0, 256));
                return body;
            }
        }
    }

    /// <summary>A memory region: often one of the real ones, moved, resized or offset a little.</summary>
    private static void Region(Random rng, GuestRam ram, Span<byte> at)
    {
        GuestRamRegion real = ram.Regions[rng.Next(ram.Regions.Count)];
        ulong gpa = rng.Next(4) == 0 ? (ulong)rng.NextInt64() : real.GuestPhysAddr + (ulong)(rng.Next(3) == 0 ? rng.Next(0, 3) * 0x1000 : 0);
        ulong size = rng.Next(4) switch
        {
            0 => (ulong)rng.NextInt64(),
            1 => real.Size + (ulong)rng.Next(1, 0x3000),
            2 => (ulong)rng.Next(0, 3) * 0x1000,
            _ => real.Size,
        };
        ulong user = rng.Next(4) == 0 ? (ulong)rng.NextInt64() : real.UserAddr;
        ulong offset = rng.Next(4) == 0 ? (ulong)(rng.Next(3) == 0 ? rng.NextInt64() : rng.Next(0, 0x50000)) : real.MmapOffset;
        BinaryPrimitives.WriteUInt64LittleEndian(at, gpa);
        BinaryPrimitives.WriteUInt64LittleEndian(at[8..], size);
        BinaryPrimitives.WriteUInt64LittleEndian(at[16..], user);
        BinaryPrimitives.WriteUInt64LittleEndian(at[24..], offset);
    }

    private static ulong UserAddress(Random rng, GuestRam ram)
    {
        GuestRamRegion r = ram.Regions[rng.Next(ram.Regions.Count)];
        return rng.Next(4) switch
        {
            0 => (ulong)rng.NextInt64(),
            1 => r.UserAddr + r.Size - (ulong)rng.Next(0, 64),
            _ => r.UserAddr + ((ulong)rng.NextInt64(0, (long)r.Size) & ~15UL),
        };
    }

    /// <summary>A fresh fd of a random kind; the case closes it at the end (the server closes its own copies).</summary>
    private static int RandomFd(Random rng, List<int> owned)
    {
        int fd;
        switch (rng.Next(7))
        {
            case 0:
            case 1:
            {
                fd = Libc.MemfdCreate("fuzz-memfd", Libc.MFD_CLOEXEC | (rng.Next(2) == 0 ? Libc.MFD_ALLOW_SEALING : 0));
                Libc.Ftruncate(fd, rng.Next(0, 3) * 0x10000 + (rng.Next(2) == 0 ? 0 : rng.Next(0, 4096)));
                if (rng.Next(3) == 0)
                {
                    // Refused without MFD_ALLOW_SEALING, which is fine: both kinds reach the server.
                    Libc.Fcntl(fd, Libc.F_ADD_SEALS, Libc.F_SEAL_SHRINK | Libc.F_SEAL_GROW);
                }
                break;
            }
            case 2:
                fd = Libc.EventFd(0, Libc.EFD_CLOEXEC | (rng.Next(2) == 0 ? Libc.EFD_NONBLOCK : 0));
                break;
            case 3:
                fd = Libc.OpenAbsolute("/dev/null", Libc.O_RDWR | Libc.O_CLOEXEC);
                break;
            case 4:
            {
                Libc.SocketPair(Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, out fd, out int other);
                owned.Add(other);
                break;
            }
            case 5:
                fd = Libc.OpenAbsolute("/", Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC);
                break;
            default:
            {
                Libc.Pipe2(Libc.O_CLOEXEC, out fd, out int writeEnd);
                owned.Add(writeEnd);
                break;
            }
        }
        owned.Add(fd);
        return fd;
    }

    protected override void Dispose(bool disposing)
    {
        _fs.Dispose();
        _share.Dispose();
    }
}
