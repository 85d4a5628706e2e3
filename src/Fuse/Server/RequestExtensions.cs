using System.Buffers.Binary;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Server;

/// <summary>
/// Parses the extensions after a request body (fuse_in_header.total_extlen, 7.38): a sequence of
/// fuse_ext_header records, each a multiple of 8 bytes. FUSE_EXT_GROUPS gives the supplementary group;
/// a record of type 0..31 is the security contexts (fuse_secctx_header: its type is nr_secctx), of which
/// the first in the security. namespace is kept; unknown types are skipped, as the kernel's own parser does.
/// </summary>
internal static class RequestExtensions
{
    /// <summary>The largest extension area we read: the kernel sends a few dozen bytes.</summary>
    public const int MaxLength = 4096;

    /// <summary>fuse_secctx: u32 size (of the value), u32 padding; then the NUL-terminated name and the value.</summary>
    private const int SecctxSize = 8;

    /// <summary>
    /// 0 or -EINVAL for a malformed area; <paramref name="supplementaryGroup"/> from FUSE_EXT_GROUPS,
    /// <paramref name="label"/> from the security contexts.
    /// </summary>
    public static int Parse(ReadOnlySpan<byte> area, out uint? supplementaryGroup, out FileSystem.SecurityLabel? label)
    {
        supplementaryGroup = null;
        label = null;
        while (!area.IsEmpty)
        {
            if (area.Length < 8)
            {
                return -Errno.EINVAL;
            }

            uint size = BinaryPrimitives.ReadUInt32LittleEndian(area);
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(area[4..]);
            if (size < 8 || size > (uint)area.Length || size % FuseConstants.RecordAlignment != 0)
            {
                return -Errno.EINVAL;
            }

            ReadOnlySpan<byte> payload = area[8..(int)size];
            if (type == FuseConstants.ExtGroups)
            {
                // struct fuse_supp_groups { u32 nr_groups; u32 groups[]; }: the kernel sends the one
                // supplementary group that matches the parent directory's gid (fs/fuse/dir.c).
                if (payload.Length < 4)
                {
                    return -Errno.EINVAL;
                }

                uint count = BinaryPrimitives.ReadUInt32LittleEndian(payload);
                if (count > (uint)(payload.Length - 4) / 4)
                {
                    return -Errno.EINVAL;
                }

                if (count == 1)
                {
                    supplementaryGroup = BinaryPrimitives.ReadUInt32LittleEndian(payload[4..]);
                }
            }

            else if (type <= FuseConstants.MaxNrSecctx)
            {
                int r = ParseSecurityContexts(payload, type, ref label);
                if (r < 0)
                {
                    return r;
                }
            }

            area = area[(int)size..];
        }

        return 0;
    }

    private static int ParseSecurityContexts(ReadOnlySpan<byte> payload, uint count, ref FileSystem.SecurityLabel? label)
    {
        for (uint i = 0; i < count; i++)
        {
            if (payload.Length < SecctxSize)
            {
                return -Errno.EINVAL;
            }
            uint valueLength = BinaryPrimitives.ReadUInt32LittleEndian(payload);
            ReadOnlySpan<byte> rest = payload[SecctxSize..];
            int nul = rest.IndexOf((byte)0);
            if (nul <= 0 || valueLength > (uint)(rest.Length - nul - 1))
            {
                return -Errno.EINVAL;
            }
            ReadOnlySpan<byte> name = rest[..nul];
            ReadOnlySpan<byte> value = rest.Slice(nul + 1, (int)valueLength);
            // Only a security. attribute: the guest must not reach trusted. or user. attributes this way.
            if (label is null && name.StartsWith("security."u8) && name.Length > "security."u8.Length)
            {
                label = new FileSystem.SecurityLabel(name.ToArray(), value.ToArray());
            }
            int used = SecctxSize + nul + 1 + (int)valueLength;
            int aligned = (used + (int)FuseConstants.RecordAlignment - 1) & ~((int)FuseConstants.RecordAlignment - 1);
            payload = payload[Math.Min(aligned, payload.Length)..];
        }
        return 0;
    }
}
