using System.Runtime.InteropServices;
using System.Text;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Linux;
using VirtioFsd.Tests.Engine;

namespace VirtioFsd.Tests.Faults;

/// <summary>
/// FUSE requests for the fault tests as <see cref="FuseCall"/>s (errors are results here, not failures),
/// and one-shot helpers over a <see cref="QueueDriver"/>.
/// </summary>
internal static class FaultCalls
{
    private static readonly int EntrySize = Marshal.SizeOf<FuseEntryOut>();

    public static byte[] Name(string name) => Encoding.UTF8.GetBytes(name + "\0");

    /// <summary>Runs one call and returns its error (0 or -errno) and reply arguments.</summary>
    public static (int Error, byte[] Args) Call(QueueDriver driver, FuseOpcode opcode, ulong node, byte[] args, int replyArgBytes, byte[]? payload = null)
    {
        (int, byte[]) result = default;
        EngineStressTests.RunOne(driver, new FuseCall
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

    public static (int Error, ulong Node) Lookup(QueueDriver driver, ulong parent, string name)
    {
        (int e, byte[] a) = Call(driver, FuseOpcode.Lookup, parent, Name(name), EntrySize);
        return (e, e == 0 ? MemoryMarshal.Read<FuseEntryOut>(a).NodeId : 0);
    }

    public static int Getattr(QueueDriver driver, ulong node)
        => Call(driver, FuseOpcode.GetAttr, node, FuseCall.Bytes(new FuseGetAttrIn()), Marshal.SizeOf<FuseAttrOut>()).Error;

    public static (int Error, ulong Fh) Open(QueueDriver driver, ulong node, int flags)
    {
        (int e, byte[] a) = Call(driver, FuseOpcode.Open, node, FuseCall.Bytes(new FuseOpenIn { Flags = (uint)flags }), Marshal.SizeOf<FuseOpenOut>());
        return (e, e == 0 ? MemoryMarshal.Read<FuseOpenOut>(a).Fh : 0);
    }

    /// <summary>CREATE (O_RDWR, 0644); returns the error, node and fh.</summary>
    public static (int Error, ulong Node, ulong Fh) Create(QueueDriver driver, ulong parent, string name)
    {
        (int e, byte[] a) = Call(driver, FuseOpcode.Create, parent,
            [.. FuseCall.Bytes(new FuseCreateIn { Flags = (uint)Libc.O_RDWR, Mode = 0x81a4 }), .. Name(name)], EntrySize + Marshal.SizeOf<FuseOpenOut>());
        return e != 0 ? (e, 0, 0) : (0, MemoryMarshal.Read<FuseEntryOut>(a).NodeId, MemoryMarshal.Read<FuseOpenOut>(a.AsSpan(EntrySize)).Fh);
    }

    public static FuseCall WriteCall(ulong node, ulong fh, ulong offset, byte[] data, Action<int, uint> result) => new()
    {
        Opcode = FuseOpcode.Write,
        Node = node,
        Args = FuseCall.Bytes(new FuseWriteIn { Fh = fh, Offset = offset, Size = (uint)data.Length }),
        Payload = data,
        ReplyArgBytes = Marshal.SizeOf<FuseWriteOut>(),
        Verify = (header, args, _) => result(header.Error, header.Error == 0 ? MemoryMarshal.Read<FuseWriteOut>(args).Size : 0),
    };

    /// <summary>WRITE; returns the error or the bytes written.</summary>
    public static (int Error, uint Written) Write(QueueDriver driver, ulong node, ulong fh, ulong offset, byte[] data)
    {
        (int, uint) r = default;
        EngineStressTests.RunOne(driver, WriteCall(node, fh, offset, data, (e, n) => r = (e, n)));
        return r;
    }

    public static FuseCall FsyncCall(ulong node, ulong fh, Action<int> result) => new()
    {
        Opcode = FuseOpcode.Fsync,
        Node = node,
        Args = FuseCall.Bytes(new FuseFsyncIn { Fh = fh }),
        Verify = (header, _, _) => result(header.Error),
    };

    public static int Fsync(QueueDriver driver, ulong node, ulong fh)
        => Call(driver, FuseOpcode.Fsync, node, FuseCall.Bytes(new FuseFsyncIn { Fh = fh }), 0).Error;

    public static int Fallocate(QueueDriver driver, ulong node, ulong fh, ulong offset, ulong length)
        => Call(driver, FuseOpcode.Fallocate, node, FuseCall.Bytes(new FuseFallocateIn { Fh = fh, Offset = offset, Length = length }), 0).Error;

    public static int Release(QueueDriver driver, ulong node, ulong fh, bool directory = false)
        => Call(driver, directory ? FuseOpcode.ReleaseDir : FuseOpcode.Release, node, FuseCall.Bytes(new FuseReleaseIn { Fh = fh }), 0).Error;

    public static int Destroy(QueueDriver driver) => Call(driver, FuseOpcode.Destroy, 0, [], 0).Error;

    /// <summary>A FORGET request as the guest puts it on the high-priority queue (header + fuse_forget_in).</summary>
    public static byte[] Forget(ulong node, ulong nlookup, ulong unique)
    {
        int headerSize = Marshal.SizeOf<FuseInHeader>();
        var header = new FuseInHeader { Len = (uint)(headerSize + 8), Opcode = (uint)FuseOpcode.Forget, Unique = unique, NodeId = node };
        return [.. FuseCall.Bytes(header), .. FuseCall.Bytes(new FuseForgetIn { Nlookup = nlookup })];
    }

    /// <summary>BATCH_FORGET of (node, 1) for every node given.</summary>
    public static byte[] BatchForget(IReadOnlyList<ulong> nodes, ulong unique)
    {
        int headerSize = Marshal.SizeOf<FuseInHeader>();
        var body = new List<byte>(FuseCall.Bytes(new FuseBatchForgetIn { Count = (uint)nodes.Count }));
        foreach (ulong n in nodes)
        {
            body.AddRange(FuseCall.Bytes(new FuseForgetOne { NodeId = n, Nlookup = 1 }));
        }
        var header = new FuseInHeader { Len = (uint)(headerSize + body.Count), Opcode = (uint)FuseOpcode.BatchForget, Unique = unique };
        return [.. FuseCall.Bytes(header), .. body];
    }
}
