using System.Runtime.InteropServices;
using System.Text;
using VirtioFsd.Fuse.Abi;

namespace VirtioFsd.Fuzz.Targets;

/// <summary>
/// Well-formed FUSE requests for every opcode (the layout fs/fuse sends, linux/fuse.h) with random
/// but plausible fields, over the node ids and handles of a case's tree, and the hostile variations
/// laid on top: bad names, cut or padded bodies, overwritten bytes, lying headers, garbage extensions.
/// </summary>
internal static class FuseRequestShapes
{
    /// <summary>Every opcode the server knows, in enum order (the fuzz target's per-opcode rotation).</summary>
    public static readonly FuseOpcode[] Opcodes = Enum.GetValues<FuseOpcode>();

    /// <summary>Entries of the case tree looked up at setup ("f" first: it is opened).</summary>
    public static readonly string[] TreeNames = ["f", "d", "out", "etc", "proc", "p"];

    /// <summary>What a Linux 6.12 guest offers in INIT.</summary>
    public const FuseInitFlags GuestFlags = FuseInitFlags.AsyncRead | FuseInitFlags.PosixLocks | FuseInitFlags.AtomicOTrunc
        | FuseInitFlags.ExportSupport | FuseInitFlags.BigWrites | FuseInitFlags.DontMask | FuseInitFlags.FlockLocks
        | FuseInitFlags.HasIoctlDir | FuseInitFlags.AutoInvalData | FuseInitFlags.DoReadDirPlus | FuseInitFlags.ReadDirPlusAuto
        | FuseInitFlags.AsyncDio | FuseInitFlags.WritebackCache | FuseInitFlags.ParallelDirOps | FuseInitFlags.HandleKillPriv
        | FuseInitFlags.PosixAcl | FuseInitFlags.AbortError | FuseInitFlags.MaxPages | FuseInitFlags.CacheSymlinks
        | FuseInitFlags.ExplicitInvalData | FuseInitFlags.Submounts | FuseInitFlags.HandleKillPrivV2 | FuseInitFlags.SetXattrExt
        | FuseInitFlags.InitExt | FuseInitFlags.SecurityCtx | FuseInitFlags.CreateSuppGroup | FuseInitFlags.DirectIoAllowMmap;

    private static readonly int InHeaderSize = Marshal.SizeOf<FuseInHeader>();

    /// <summary>Node ids and handles a case's setup obtained.</summary>
    public sealed class Tree
    {
        public List<ulong> Nodes { get; } = [];

        public List<ulong> Handles { get; } = [];

        public List<ulong> DirHandles { get; } = [];
    }

    /// <summary>The INIT a 7.40 guest sends, from root.</summary>
    public static byte[] Init(FuseInitFlags flags, ulong unique) => FuseRequestBuilder.Init(flags, unique: unique).AsCaller(0, 0).ToBytes();

    /// <summary>fuse_in_header (uid 0 unless given) + body, with an honest length.</summary>
    public static byte[] Request(FuseOpcode opcode, ulong node, ulong unique, byte[] body, uint uid = 0, uint gid = 0)
        => new FuseRequestBuilder(opcode, node, unique).AsCaller(uid, gid).AddBytes(body).ToBytes();

    /// <summary>A request for <paramref name="opcode"/>: well-formed, then (two cases in three) mutated.</summary>
    public static byte[] Build(FuseOpcode opcode, Random rng, Tree tree, ulong unique)
    {
        byte[] body = Body(opcode, rng, tree);
        uint uid = rng.Next(3) == 0 ? 1000u : 0u;
        byte[] request = Request(opcode, NodeFor(opcode, rng, tree), unique, body, uid, rng.Next(3) == 0 ? 1000u : uid);
        if (rng.Next(3) == 0)
        {
            return request;
        }
        int edits = rng.Next(1, 4);
        for (int e = 0; e < edits; e++)
        {
            request = Mutate(rng, request);
        }
        return request;
    }

    private static ulong NodeFor(FuseOpcode opcode, Random rng, Tree tree) => rng.Next(10) switch
    {
        0 => (ulong)rng.NextInt64(),
        1 => 0,
        2 => 1,
        3 => (ulong)rng.Next(2, 40),
        _ => opcode is FuseOpcode.Lookup or FuseOpcode.Mkdir or FuseOpcode.Mknod or FuseOpcode.Create or FuseOpcode.Symlink
                or FuseOpcode.Unlink or FuseOpcode.Rmdir or FuseOpcode.Rename or FuseOpcode.Rename2 or FuseOpcode.Link
                or FuseOpcode.Tmpfile or FuseOpcode.OpenDir or FuseOpcode.ReadDir or FuseOpcode.ReadDirPlus
                or FuseOpcode.ReleaseDir or FuseOpcode.FsyncDir
            ? (rng.Next(2) == 0 ? 1 : Pick(rng, tree.Nodes, 1))
            : Pick(rng, tree.Nodes, 1),
    };

    private static ulong Pick(Random rng, List<ulong> from, ulong fallback) => from.Count == 0 ? fallback : from[rng.Next(from.Count)];

    private static ulong Handle(Random rng, Tree tree, bool dir = false) => rng.Next(6) switch
    {
        0 => (ulong)rng.NextInt64(),
        1 => (ulong)rng.Next(0, 8),
        _ => Pick(rng, dir ? tree.DirHandles : tree.Handles, 0),
    };

    /// <summary>A name: mostly fresh or existing ones, sometimes one of the classes a server must refuse.</summary>
    private static byte[] AnyName(Random rng)
    {
        if (rng.Next(4) != 0)
        {
            return FuseBytes.Name(rng.Next(2) == 0 ? TreeNames[rng.Next(TreeNames.Length)] : $"n{rng.Next(0, 6)}");
        }
        return rng.Next(12) switch
        {
            0 => FuseBytes.Name("/"),
            1 => FuseBytes.Name("."),
            2 => FuseBytes.Name(".."),
            3 => [0],
            4 => FuseBytes.Name("a/b"),
            5 => Encoding.UTF8.GetBytes("nonul"),
            6 => [.. Encoding.UTF8.GetBytes("in"), 0, .. Encoding.UTF8.GetBytes("side"), 0],
            7 => FuseBytes.Name(new string('x', 256)),
            8 => FuseBytes.Name(new string('y', rng.Next(4000, 5000))),
            9 => FuseBytes.Name("/etc/passwd"),
            10 => FuseBytes.Name("../outside/secret"),
            // ASCII only: the harness resets the tree with .NET's file APIs, which cannot name invalid UTF-8.
            _ => [.. Enumerable.Range(0, rng.Next(1, 20)).Select(_ => (byte)rng.Next(1, 128)), 0],
        };
    }

    private static byte[] Body(FuseOpcode opcode, Random rng, Tree tree)
    {
        switch (opcode)
        {
            case FuseOpcode.Lookup:
            case FuseOpcode.Unlink:
            case FuseOpcode.Rmdir:
            case FuseOpcode.RemoveXattr:
                return opcode == FuseOpcode.RemoveXattr ? XattrName(rng) : AnyName(rng);
            case FuseOpcode.Forget:
                return FuseBytes.Of(new FuseForgetIn { Nlookup = rng.Next(3) == 0 ? (ulong)rng.NextInt64() : (ulong)rng.Next(0, 3) });
            case FuseOpcode.BatchForget:
            {
                int count = rng.Next(0, 6);
                var b = new List<byte>(FuseBytes.Of(new FuseBatchForgetIn { Count = rng.Next(6) == 0 ? (uint)rng.Next() : (uint)count }));
                for (int i = 0; i < count; i++)
                {
                    b.AddRange(FuseBytes.Of(new FuseForgetOne
                    {
                        NodeId = rng.Next(3) == 0 ? (ulong)rng.NextInt64() : Pick(rng, tree.Nodes, 1),
                        Nlookup = rng.Next(3) == 0 ? ulong.MaxValue : (ulong)rng.Next(0, 3),
                    }));
                }
                return [.. b];
            }
            case FuseOpcode.GetAttr:
                return FuseBytes.Of(new FuseGetAttrIn { GetAttrFlags = (uint)rng.Next(0, 3), Fh = Handle(rng, tree) });
            case FuseOpcode.SetAttr:
                return FuseBytes.Of(new FuseSetAttrIn
                {
                    Valid = rng.Next(3) == 0 ? (uint)rng.Next() : (uint)rng.Next(0, 1 << 12),
                    Fh = Handle(rng, tree),
                    Size = rng.Next(5) == 0 ? (ulong)rng.NextInt64() : (ulong)rng.Next(0, 5000),
                    LockOwner = (ulong)rng.NextInt64(),
                    Atime = (ulong)rng.NextInt64(),
                    Mtime = (ulong)rng.Next(),
                    AtimeNsec = (uint)rng.Next(0, 2_000_000_000),
                    MtimeNsec = (uint)rng.Next(0, 1_000_000_000),
                    Mode = (uint)rng.Next(0, 0x10000),
                    Uid = rng.Next(2) == 0 ? 0u : (uint)rng.Next(),
                    Gid = rng.Next(2) == 0 ? 1000u : uint.MaxValue,
                });
            case FuseOpcode.Symlink:
                return [.. AnyName(rng), .. FuseBytes.Name(rng.Next(3) switch { 0 => "/etc/passwd", 1 => "../outside/secret", _ => "f" })];
            case FuseOpcode.Mknod:
            {
                uint[] types = [0x8000, 0x1000, 0x2000, 0x6000, 0xC000, 0x4000, 0xA000, 0];
                return [.. FuseBytes.Of(new FuseMknodIn
                {
                    Mode = types[rng.Next(types.Length)] | (uint)rng.Next(0, 0x1000),
                    Rdev = rng.Next(2) == 0 ? 0x0103u : (uint)rng.Next(),
                    Umask = (uint)rng.Next(0, 0x200),
                }), .. AnyName(rng)];
            }
            case FuseOpcode.Mkdir:
                return [.. FuseBytes.Of(new FuseMkdirIn { Mode = (uint)rng.Next(0, 0x10000), Umask = (uint)rng.Next(0, 0x200) }), .. AnyName(rng)];
            case FuseOpcode.Rename:
                return [.. FuseBytes.Of(new FuseRenameIn { NewDir = rng.Next(2) == 0 ? 1 : Pick(rng, tree.Nodes, 1) }), .. AnyName(rng), .. AnyName(rng)];
            case FuseOpcode.Rename2:
                return [.. FuseBytes.Of(new FuseRename2In
                {
                    NewDir = rng.Next(2) == 0 ? 1 : Pick(rng, tree.Nodes, 1),
                    Flags = rng.Next(4) == 0 ? (uint)rng.Next() : (uint)rng.Next(0, 8),
                }), .. AnyName(rng), .. AnyName(rng)];
            case FuseOpcode.Link:
                return [.. FuseBytes.Of(new FuseLinkIn { OldNodeId = rng.Next(4) == 0 ? (ulong)rng.NextInt64() : Pick(rng, tree.Nodes, 1) }), .. AnyName(rng)];
            case FuseOpcode.Open:
            case FuseOpcode.OpenDir:
                return FuseBytes.Of(new FuseOpenIn { Flags = OpenFlags(rng), OpenFlags = (uint)rng.Next(0, 4) });
            case FuseOpcode.Create:
            case FuseOpcode.Tmpfile:
            {
                byte[] create = FuseBytes.Of(new FuseCreateIn { Flags = OpenFlags(rng), Mode = (uint)rng.Next(0, 0x10000), Umask = (uint)rng.Next(0, 0x200) });
                return opcode == FuseOpcode.Tmpfile && rng.Next(2) == 0 ? create : [.. create, .. AnyName(rng)];
            }
            case FuseOpcode.Read:
            case FuseOpcode.ReadDir:
            case FuseOpcode.ReadDirPlus:
                return FuseBytes.Of(new FuseReadIn
                {
                    Fh = Handle(rng, tree, opcode != FuseOpcode.Read),
                    Offset = rng.Next(4) == 0 ? (ulong)rng.NextInt64() : (ulong)rng.Next(0, 400),
                    Size = rng.Next(4) == 0 ? (uint)rng.Next() : (uint)rng.Next(0, 9000),
                    Flags = OpenFlags(rng),
                });
            case FuseOpcode.Write:
            {
                byte[] data = new byte[rng.Next(0, 5000)];
                rng.NextBytes(data);
                return [.. FuseBytes.Of(new FuseWriteIn
                {
                    Fh = Handle(rng, tree),
                    Offset = rng.Next(4) == 0 ? (ulong)rng.NextInt64() : (ulong)rng.Next(0, 400),
                    Size = rng.Next(5) == 0 ? (uint)rng.Next() : (uint)data.Length,
                    WriteFlags = (uint)rng.Next(0, 8),
                }), .. data];
            }
            case FuseOpcode.Release:
            case FuseOpcode.ReleaseDir:
                return FuseBytes.Of(new FuseReleaseIn { Fh = Handle(rng, tree, opcode == FuseOpcode.ReleaseDir), Flags = OpenFlags(rng), ReleaseFlags = (uint)rng.Next(0, 4), LockOwner = (ulong)rng.Next(0, 3) });
            case FuseOpcode.Fsync:
            case FuseOpcode.FsyncDir:
                return FuseBytes.Of(new FuseFsyncIn { Fh = Handle(rng, tree, opcode == FuseOpcode.FsyncDir), FsyncFlags = (uint)rng.Next(0, 3) });
            case FuseOpcode.Flush:
                return FuseBytes.Of(new FuseFlushIn { Fh = Handle(rng, tree), LockOwner = (ulong)rng.Next(0, 3) });
            case FuseOpcode.SetXattr:
            {
                byte[] value = new byte[rng.Next(0, 300)];
                rng.NextBytes(value);
                byte[] head = FuseBytes.Of(new FuseSetXattrIn { Size = rng.Next(5) == 0 ? (uint)rng.Next() : (uint)value.Length, Flags = (uint)rng.Next(0, 4) });
                // Without SETXATTR_EXT the kernel sends the 8-byte compat struct.
                return [.. rng.Next(2) == 0 ? head : head[..8], .. XattrName(rng), .. value];
            }
            case FuseOpcode.GetXattr:
                return [.. FuseBytes.Of(new FuseGetXattrIn { Size = rng.Next(3) == 0 ? 0 : (uint)rng.Next(0, 70_000) }), .. XattrName(rng)];
            case FuseOpcode.ListXattr:
                return FuseBytes.Of(new FuseGetXattrIn { Size = rng.Next(3) == 0 ? 0 : (uint)rng.Next(0, 70_000) });
            case FuseOpcode.Init:
                return FuseBytes.Of(new FuseInitIn
                {
                    Major = rng.Next(4) == 0 ? (uint)rng.Next(0, 10) : 7,
                    Minor = (uint)rng.Next(0, 50),
                    MaxReadahead = (uint)rng.Next(),
                    Flags = (uint)rng.Next(),
                    Flags2 = (uint)rng.Next(),
                });
            case FuseOpcode.GetLk:
            case FuseOpcode.SetLk:
            case FuseOpcode.SetLkW:
                return FuseBytes.Of(new FuseLkIn
                {
                    Fh = Handle(rng, tree),
                    Owner = (ulong)rng.Next(0, 3),
                    Lk = new FuseFileLock
                    {
                        Start = rng.Next(4) == 0 ? (ulong)rng.NextInt64() : (ulong)rng.Next(0, 100),
                        End = rng.Next(3) == 0 ? ulong.MaxValue : (ulong)rng.Next(0, 200),
                        Type = rng.Next(5) == 0 ? (uint)rng.Next() : (uint)rng.Next(0, 3),
                        Pid = (uint)rng.Next(),
                    },
                    LkFlags = (uint)rng.Next(0, 2),
                });
            case FuseOpcode.Access:
                return FuseBytes.Of(new FuseAccessIn { Mask = (uint)rng.Next(0, 16) });
            case FuseOpcode.Interrupt:
                return FuseBytes.Of(new FuseInterruptIn { Unique = (ulong)rng.Next(0, 10) });
            case FuseOpcode.Ioctl:
            {
                byte[] input = new byte[rng.Next(0, 64)];
                rng.NextBytes(input);
                return [.. FuseBytes.Of(new FuseIoctlIn { Fh = Handle(rng, tree), Flags = (uint)rng.Next(0, 64), Cmd = (uint)rng.Next(), InSize = (uint)input.Length, OutSize = (uint)rng.Next(0, 8192) }), .. input];
            }
            case FuseOpcode.Poll:
                return FuseBytes.Of(new FusePollIn { Fh = Handle(rng, tree), Kh = (ulong)rng.Next(), Flags = (uint)rng.Next(0, 2), Events = (uint)rng.Next(0, 64) });
            case FuseOpcode.Fallocate:
                return FuseBytes.Of(new FuseFallocateIn { Fh = Handle(rng, tree), Offset = (ulong)rng.Next(0, 10_000), Length = rng.Next(4) == 0 ? (ulong)rng.NextInt64() : (ulong)rng.Next(0, 10_000), Mode = (uint)rng.Next(0, 0x80) });
            case FuseOpcode.Lseek:
                return FuseBytes.Of(new FuseLseekIn { Fh = Handle(rng, tree), Offset = (ulong)rng.Next(0, 1000), Whence = (uint)rng.Next(0, 6) });
            case FuseOpcode.CopyFileRange:
                return FuseBytes.Of(new FuseCopyFileRangeIn
                {
                    FhIn = Handle(rng, tree),
                    OffIn = (ulong)rng.Next(0, 400),
                    NodeIdOut = rng.Next(3) == 0 ? (ulong)rng.NextInt64() : Pick(rng, tree.Nodes, 1),
                    FhOut = Handle(rng, tree),
                    OffOut = (ulong)rng.Next(0, 400),
                    Len = rng.Next(3) == 0 ? (ulong)rng.NextInt64() : (ulong)rng.Next(0, 1000),
                    Flags = (ulong)rng.Next(0, 2),
                });
            case FuseOpcode.SyncFs:
                return FuseBytes.Of(new FuseSyncFsIn());
            case FuseOpcode.Statx:
            {
                byte[] statx = new byte[24];
                MemoryMarshal.Write(statx, (uint)rng.Next(0, 2));
                MemoryMarshal.Write(statx.AsSpan(8), Handle(rng, tree));
                MemoryMarshal.Write(statx.AsSpan(16), (uint)rng.Next());
                MemoryMarshal.Write(statx.AsSpan(20), (uint)rng.Next());
                return statx;
            }
            default:
            {
                byte[] noise = new byte[rng.Next(0, 64)];
                rng.NextBytes(noise);
                return noise;
            }
        }
    }

    private static byte[] XattrName(Random rng) => rng.Next(3) switch
    {
        0 => AnyName(rng),
        1 => FuseBytes.Name(rng.Next(4) switch { 0 => "security.capability", 1 => "system.posix_acl_access", 2 => "trusted.x", _ => "user.a" }),
        _ => FuseBytes.Name($"user.x{rng.Next(0, 3)}"),
    };

    /// <summary>open(2) flags: the usual access modes with the flags that matter (O_CREAT, O_TRUNC, O_DIRECT, O_PATH...).</summary>
    private static uint OpenFlags(Random rng)
    {
        if (rng.Next(6) == 0)
        {
            return (uint)rng.Next();
        }
        uint[] extra = [0x40 /* O_CREAT */, 0x80 /* O_EXCL */, 0x200 /* O_TRUNC */, 0x400 /* O_APPEND */, 0x800 /* O_NONBLOCK */,
            0x4000 /* O_DIRECT */, 0x10000 /* O_DIRECTORY */, 0x20000 /* O_NOFOLLOW */, 0x200000 /* O_PATH */, 0x410000 /* O_TMPFILE */];
        uint flags = (uint)rng.Next(0, 4);
        for (int i = 0; i < rng.Next(0, 3); i++)
        {
            flags |= extra[rng.Next(extra.Length)];
        }
        return flags;
    }

    /// <summary>One hostile edit: bytes overwritten, the body cut or padded, the header lying, an extension added.</summary>
    private static byte[] Mutate(Random rng, byte[] request)
    {
        if (request.Length < InHeaderSize)
        {
            // Already cut inside the header: nothing left to lie about.
            return request;
        }
        switch (rng.Next(8))
        {
            case 0:
            case 1:
            {
                if (request.Length > InHeaderSize)
                {
                    int n = rng.Next(1, 8);
                    for (int i = 0; i < n; i++)
                    {
                        request[rng.Next(InHeaderSize, request.Length)] = (byte)(rng.Next(3) == 0 ? 0 : rng.Next(256));
                    }
                }
                return request;
            }
            case 2:
            {
                // Cut anywhere (even inside the header); keep the length honest half of the time.
                byte[] cut = request[..rng.Next(0, request.Length + 1)];
                if (cut.Length >= 4 && rng.Next(2) == 0)
                {
                    MemoryMarshal.Write(cut, (uint)cut.Length);
                }
                return cut;
            }
            case 3:
            {
                byte[] pad = new byte[rng.Next(1, 300)];
                rng.NextBytes(pad);
                byte[] longer = [.. request, .. pad];
                if (rng.Next(2) == 0)
                {
                    MemoryMarshal.Write(longer, (uint)longer.Length);
                }
                return longer;
            }
            case 4:
                MemoryMarshal.Write(request, rng.Next(2) == 0 ? (uint)rng.Next() : (uint)(request.Length + rng.Next(-8, 9)));
                return request;
            case 5:
                // total_extlen (u16 at 36) lying about extensions.
                MemoryMarshal.Write(request.AsSpan(36), (ushort)rng.Next(0, 12));
                return request;
            case 6:
            {
                // A request extension: supplementary groups (FUSE_EXT_GROUPS) with any count, or garbage.
                int words = rng.Next(0, 5);
                byte[] ext = new byte[8 + (8 * words)];
                rng.NextBytes(ext);
                MemoryMarshal.Write(ext, (uint)(rng.Next(3) == 0 ? rng.Next(0, 100) : ext.Length));
                MemoryMarshal.Write(ext.AsSpan(4), rng.Next(2) == 0 ? FuseConstants.ExtGroups : (uint)rng.Next(0, 40));
                if (words > 0 && rng.Next(2) == 0)
                {
                    MemoryMarshal.Write(ext.AsSpan(8), (uint)rng.Next(0, 2 * words));
                }
                byte[] extended = [.. request, .. ext];
                MemoryMarshal.Write(extended, (uint)extended.Length);
                MemoryMarshal.Write(extended.AsSpan(36), (ushort)(MemoryMarshal.Read<ushort>(extended.AsSpan(36)) + (ext.Length / 8)));
                return extended;
            }
            default:
                // Another node id or another caller.
                MemoryMarshal.Write(request.AsSpan(16), rng.Next(2) == 0 ? (ulong)rng.NextInt64() : (ulong)rng.Next(0, 40));
                MemoryMarshal.Write(request.AsSpan(24), rng.Next(2) == 0 ? 65534u : (uint)rng.Next());
                return request;
        }
    }
}
