using System.Runtime.InteropServices;
using VirtioFsd.Fuse.Abi;

namespace VirtioFsd.TestSupport;

/// <summary>
/// Encodes a FUSE request as the guest kernel does: fuse_in_header, the opcode's struct, names
/// and data, then request extensions (linux/fuse.h). The one encoder of the tests: the server's
/// tests, the fuzz targets and the guest drivers of the daemon's tests all build their bytes here.
/// </summary>
public sealed class FuseRequestBuilder
{
    private static readonly int InHeaderSize = Marshal.SizeOf<FuseInHeader>();

    private readonly List<byte> body = [];
    private readonly List<byte> extensions = [];
    private uint? lengthOverride;

    public FuseRequestBuilder(FuseOpcode opcode, ulong nodeId = 1, ulong unique = 1)
    {
        Opcode = opcode;
        NodeId = nodeId;
        Unique = unique;
    }

    public FuseOpcode Opcode { get; }

    public ulong NodeId { get; }

    public ulong Unique { get; }

    public uint Uid { get; set; } = 1000;

    public uint Gid { get; set; } = 1000;

    public uint Pid { get; set; } = 4242;

    /// <summary>The INIT a 7.40 guest (Linux 6.12) sends, offering <paramref name="flags"/>.</summary>
    public static FuseRequestBuilder Init(FuseInitFlags flags, uint minor = 40, ulong unique = 1)
        => new FuseRequestBuilder(FuseOpcode.Init, 0, unique).Add(InitIn(flags, minor));

    /// <summary>fuse_init_in as a 7.<paramref name="minor"/> guest fills it: 128 KiB readahead, <paramref name="flags"/> in flags and flags2.</summary>
    public static FuseInitIn InitIn(FuseInitFlags flags, uint minor = 40) => new()
    {
        Major = 7,
        Minor = minor,
        MaxReadahead = 128 * 1024,
        Flags = (uint)flags,
        Flags2 = (uint)((ulong)flags >> 32),
    };

    /// <summary>The caller the header names (the kernel's view of the guest process; FORGET comes from no one: 0).</summary>
    public FuseRequestBuilder AsCaller(uint uid, uint gid, uint? pid = null)
    {
        Uid = uid;
        Gid = gid;
        Pid = pid ?? Pid;
        return this;
    }

    /// <summary>Appends a wire struct.</summary>
    public FuseRequestBuilder Add<T>(in T value)
        where T : unmanaged
        => AddBytes(MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value)));

    public FuseRequestBuilder AddBytes(ReadOnlySpan<byte> bytes)
    {
        body.AddRange(bytes);
        return this;
    }

    /// <summary>Appends a name as the kernel sends it: its bytes and a NUL.</summary>
    public FuseRequestBuilder AddName(string name) => AddBytes(FuseBytes.Name(name));

    /// <summary>Appends a request extension (fuse_ext_header + payload, padded to 8 bytes).</summary>
    public FuseRequestBuilder AddExtension(uint type, ReadOnlySpan<byte> payload)
    {
        int size = (8 + payload.Length + 7) & ~7;
        byte[] record = new byte[size];
        MemoryMarshal.Write(record, new FuseExtHeader { Size = (uint)size, Type = type });
        payload.CopyTo(record.AsSpan(8));
        return AddEncodedExtension(record);
    }

    /// <summary>Appends extension records encoded elsewhere (a multiple of 8 bytes; counted in total_extlen).</summary>
    public FuseRequestBuilder AddEncodedExtension(ReadOnlySpan<byte> records)
    {
        extensions.AddRange(records);
        return this;
    }

    /// <summary>FUSE_EXT_GROUPS with the given supplementary groups.</summary>
    public FuseRequestBuilder AddSupplementaryGroups(params uint[] groups)
    {
        var payload = new List<byte>(BitConverter.GetBytes((uint)groups.Length));
        foreach (uint g in groups)
        {
            payload.AddRange(BitConverter.GetBytes(g));
        }

        return AddExtension(FuseConstants.ExtGroups, payload.ToArray());
    }

    /// <summary>Makes in_header.len lie (malformed-request tests).</summary>
    public FuseRequestBuilder WithLength(uint length)
    {
        lengthOverride = length;
        return this;
    }

    public byte[] ToBytes()
    {
        var header = new FuseInHeader
        {
            Len = lengthOverride ?? (uint)(InHeaderSize + body.Count + extensions.Count),
            Opcode = (uint)Opcode,
            Unique = Unique,
            NodeId = NodeId,
            Uid = Uid,
            Gid = Gid,
            Pid = Pid,
            TotalExtLen = (ushort)(extensions.Count / 8),
        };
        byte[] bytes = new byte[InHeaderSize + body.Count + extensions.Count];
        MemoryMarshal.Write(bytes, header);
        CollectionsMarshal.AsSpan(body).CopyTo(bytes.AsSpan(InHeaderSize));
        CollectionsMarshal.AsSpan(extensions).CopyTo(bytes.AsSpan(InHeaderSize + body.Count));
        return bytes;
    }
}
