using System.Runtime.InteropServices;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Linux;

namespace VirtioFsd.Tests.Engine;

/// <summary>
/// FUSE requests as <see cref="FuseCall"/>s for a <see cref="QueueDriver"/>, and one-shot helpers over one, for
/// the engine and fault tests. Errors are results here (0 or -errno); <see cref="Ok{T}"/> is for setup that must
/// succeed.
/// </summary>
internal static class FuseCalls
{
    private static readonly int EntrySize = Marshal.SizeOf<FuseEntryOut>();

    /// <summary>Runs one call, asserting it was answered.</summary>
    public static void RunOne(QueueDriver driver, FuseCall call) => Assert.Equal(1, driver.Run([call], 1));

    /// <summary>The value of a call that must succeed.</summary>
    public static T Ok<T>((int Error, T Value) result)
    {
        Assert.Equal(0, result.Error);
        return result.Value;
    }

    /// <summary>Runs one call and returns its error (0 or -errno) and reply arguments.</summary>
    public static (int Error, byte[] Args) Call(QueueDriver driver, FuseOpcode opcode, ulong node, byte[] args, int replyArgBytes, byte[]? payload = null)
    {
        (int, byte[]) result = default;
        RunOne(driver, new FuseCall
        {
            Opcode = opcode,
            Node = node,
            Args = args,
            Payload = payload ?? [],
            ReplyArgBytes = replyArgBytes,
            Verify = (header, a, _) => result = (header.Error, a),
        });
        return result;
    }

    /// <summary>INIT as a 7.40 guest with the flags the engine tests need; it must succeed.</summary>
    public static void Init(QueueDriver driver) => RunOne(driver, new FuseCall
    {
        Opcode = FuseOpcode.Init,
        Args = FuseBytes.Of(FuseRequestBuilder.InitIn(FuseInitFlags.AsyncRead | FuseInitFlags.BigWrites | FuseInitFlags.MaxPages | FuseInitFlags.ParallelDirOps)),
        ReplyArgBytes = Marshal.SizeOf<FuseInitOut>(),
        Verify = (header, _, _) => Assert.Equal(0, header.Error),
    });

    public static (int Error, ulong Node) Lookup(QueueDriver driver, ulong parent, string name)
    {
        (int e, byte[] a) = Call(driver, FuseOpcode.Lookup, parent, FuseBytes.Name(name), EntrySize);
        return (e, e == 0 ? MemoryMarshal.Read<FuseEntryOut>(a).NodeId : 0);
    }

    public static int Getattr(QueueDriver driver, ulong node)
        => Call(driver, FuseOpcode.GetAttr, node, FuseBytes.Of(new FuseGetAttrIn()), Marshal.SizeOf<FuseAttrOut>()).Error;

    public static (int Error, ulong Fh) Open(QueueDriver driver, ulong node, int flags)
    {
        (int e, byte[] a) = Call(driver, FuseOpcode.Open, node, FuseBytes.Of(new FuseOpenIn { Flags = (uint)flags }), Marshal.SizeOf<FuseOpenOut>());
        return (e, e == 0 ? MemoryMarshal.Read<FuseOpenOut>(a).Fh : 0);
    }

    /// <summary>CREATE (O_RDWR, 0644); returns the error, node and fh.</summary>
    public static (int Error, ulong Node, ulong Fh) Create(QueueDriver driver, ulong parent, string name)
    {
        (int e, byte[] a) = Call(driver, FuseOpcode.Create, parent,
            [.. FuseBytes.Of(new FuseCreateIn { Flags = (uint)Libc.O_RDWR, Mode = 0x81a4 }), .. FuseBytes.Name(name)], EntrySize + Marshal.SizeOf<FuseOpenOut>());
        return e != 0 ? (e, 0, 0) : (0, MemoryMarshal.Read<FuseEntryOut>(a).NodeId, MemoryMarshal.Read<FuseOpenOut>(a.AsSpan(EntrySize)).Fh);
    }

    /// <summary>READ; with <paramref name="tolerateCancel"/> a stopping queue may answer ECANCELED instead.</summary>
    public static FuseCall ReadCall((ulong Node, ulong Fh) file, ulong offset, int size, Action<byte[]> check, bool tolerateCancel = false) => new()
    {
        Opcode = FuseOpcode.Read,
        Node = file.Node,
        Args = FuseBytes.Of(new FuseReadIn { Fh = file.Fh, Offset = offset, Size = (uint)size }),
        ReplyPayloadBytes = size,
        Verify = (header, _, data) =>
        {
            if (tolerateCancel && header.Error == -Errno.ECANCELED)
            {
                return;
            }
            Assert.Equal(0, header.Error);
            check(data);
        },
    };

    public static FuseCall WriteCall(ulong node, ulong fh, ulong offset, byte[] data, Action<int, uint> result) => new()
    {
        Opcode = FuseOpcode.Write,
        Node = node,
        Args = FuseBytes.Of(new FuseWriteIn { Fh = fh, Offset = offset, Size = (uint)data.Length }),
        Payload = data,
        ReplyArgBytes = Marshal.SizeOf<FuseWriteOut>(),
        Verify = (header, args, _) => result(header.Error, header.Error == 0 ? MemoryMarshal.Read<FuseWriteOut>(args).Size : 0),
    };

    /// <summary>WRITE; returns the error or the bytes written.</summary>
    public static (int Error, uint Written) Write(QueueDriver driver, ulong node, ulong fh, ulong offset, byte[] data)
    {
        (int, uint) r = default;
        RunOne(driver, WriteCall(node, fh, offset, data, (e, n) => r = (e, n)));
        return r;
    }

    public static FuseCall FsyncCall(ulong node, ulong fh, Action<int> result) => new()
    {
        Opcode = FuseOpcode.Fsync,
        Node = node,
        Args = FuseBytes.Of(new FuseFsyncIn { Fh = fh }),
        Verify = (header, _, _) => result(header.Error),
    };

    public static int Fsync(QueueDriver driver, ulong node, ulong fh)
        => Call(driver, FuseOpcode.Fsync, node, FuseBytes.Of(new FuseFsyncIn { Fh = fh }), 0).Error;

    public static int Fallocate(QueueDriver driver, ulong node, ulong fh, ulong offset, ulong length)
        => Call(driver, FuseOpcode.Fallocate, node, FuseBytes.Of(new FuseFallocateIn { Fh = fh, Offset = offset, Length = length }), 0).Error;

    public static int Release(QueueDriver driver, ulong node, ulong fh, bool directory = false)
        => Call(driver, directory ? FuseOpcode.ReleaseDir : FuseOpcode.Release, node, FuseBytes.Of(new FuseReleaseIn { Fh = fh }), 0).Error;

    public static int Destroy(QueueDriver driver) => Call(driver, FuseOpcode.Destroy, 0, [], 0).Error;

    /// <summary>A FORGET request as the guest puts it on the high-priority queue (header + fuse_forget_in, from no caller).</summary>
    public static byte[] Forget(ulong node, ulong nlookup, ulong unique)
        => new FuseRequestBuilder(FuseOpcode.Forget, node, unique).AsCaller(0, 0, pid: 0).Add(new FuseForgetIn { Nlookup = nlookup }).ToBytes();

    /// <summary>BATCH_FORGET of (node, 1) for every node given.</summary>
    public static byte[] BatchForget(IReadOnlyList<ulong> nodes, ulong unique)
    {
        FuseRequestBuilder request = new FuseRequestBuilder(FuseOpcode.BatchForget, 0, unique).AsCaller(0, 0, pid: 0)
            .Add(new FuseBatchForgetIn { Count = (uint)nodes.Count });
        foreach (ulong n in nodes)
        {
            request.Add(new FuseForgetOne { NodeId = n, Nlookup = 1 });
        }
        return request.ToBytes();
    }
}
