using System.Buffers.Binary;
using System.Text;

namespace VirtioFsd.Fuse.Abi;

/// <summary>
/// The request extension a guest with a labeling security module appends to create-type requests once
/// FUSE_SECURITY_CTX is negotiated (fs/fuse/dir.c get_security_context): fuse_secctx_header {size, nr_secctx},
/// then per context fuse_secctx {size of the value, padding}, the NUL-terminated xattr name and the value,
/// padded to 8 bytes. The server parses it (Server/RequestExtensions.cs); this builds one, for the tests and fuzzers.
/// </summary>
public static class SecurityContextRecord
{
    public static byte[] Of(string name, string value)
    {
        byte[] n = Encoding.UTF8.GetBytes(name);
        byte[] v = Encoding.UTF8.GetBytes(value);
        int used = 8 + 8 + n.Length + 1 + v.Length;
        int size = (used + FuseConstants.RecordAlignment - 1) & ~(FuseConstants.RecordAlignment - 1);
        byte[] r = new byte[size];
        BinaryPrimitives.WriteUInt32LittleEndian(r, (uint)size);
        BinaryPrimitives.WriteUInt32LittleEndian(r.AsSpan(4), 1);
        BinaryPrimitives.WriteUInt32LittleEndian(r.AsSpan(8), (uint)v.Length);
        n.CopyTo(r, 16);
        v.CopyTo(r, 16 + n.Length + 1);
        return r;
    }
}
