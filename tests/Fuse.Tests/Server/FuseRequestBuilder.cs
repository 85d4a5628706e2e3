using System.Runtime.InteropServices;
using System.Text;
using VirtioFsd.Fuse.Abi;

namespace VirtioFsd.Fuse.Tests.Server;

/// <summary>
/// Encodes a FUSE request as the guest kernel does: fuse_in_header, the opcode's struct, names
/// and data, then request extensions. Reusable by any test that needs to speak FUSE (the
/// passthrough tests, the daemon's tests, a benchmark).
/// </summary>
public sealed class FuseRequestBuilder
{
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
    {
        var init = new FuseInitIn
        {
            Major = 7,
            Minor = minor,
            MaxReadahead = 128 * 1024,
            Flags = (uint)flags,
            Flags2 = (uint)((ulong)flags >> 32),
        };
        return new FuseRequestBuilder(FuseOpcode.Init, 0, unique).Add(init);
    }

    /// <summary>Appends a wire struct.</summary>
    public FuseRequestBuilder Add<T>(in T value)
        where T : unmanaged
        => AddBytes(MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value)));

    public FuseRequestBuilder AddBytes(ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
        {
            body.Add(b);
        }

        return this;
    }

    /// <summary>Appends a name as the kernel sends it: its bytes and a NUL.</summary>
    public FuseRequestBuilder AddName(string name) => AddBytes(Encoding.UTF8.GetBytes(name)).AddBytes([0]);

    /// <summary>Appends a request extension (fuse_ext_header + payload, padded to 8 bytes).</summary>
    public FuseRequestBuilder AddExtension(uint type, ReadOnlySpan<byte> payload)
    {
        int size = (8 + payload.Length + 7) & ~7;
        var header = new FuseExtHeader { Size = (uint)size, Type = type };
        extensions.AddRange(MemoryMarshal.AsBytes(new ReadOnlySpan<FuseExtHeader>(in header)).ToArray());
        extensions.AddRange(payload.ToArray());
        extensions.AddRange(new byte[size - 8 - payload.Length]);
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
        int headerSize = Marshal.SizeOf<FuseInHeader>();
        var header = new FuseInHeader
        {
            Len = lengthOverride ?? (uint)(headerSize + body.Count + extensions.Count),
            Opcode = (uint)Opcode,
            Unique = Unique,
            NodeId = NodeId,
            Uid = Uid,
            Gid = Gid,
            Pid = Pid,
            TotalExtLen = (ushort)(extensions.Count / 8),
        };
        var bytes = new List<byte>(MemoryMarshal.AsBytes(new ReadOnlySpan<FuseInHeader>(in header)).ToArray());
        bytes.AddRange(body);
        bytes.AddRange(extensions);
        return bytes.ToArray();
    }
}
