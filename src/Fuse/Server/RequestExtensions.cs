using System.Buffers.Binary;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Server;

/// <summary>
/// Parses the extensions after a request body (fuse_in_header.total_extlen, 7.38): a sequence of
/// fuse_ext_header records, each a multiple of 8 bytes. Only FUSE_EXT_GROUPS is used; security
/// contexts (types 0..31) and unknown types are skipped, as the kernel's own parser does for
/// types it does not need.
/// </summary>
internal static class RequestExtensions
{
    /// <summary>The largest extension area we read: the kernel sends a few dozen bytes.</summary>
    public const int MaxLength = 4096;

    /// <summary>0 or -EINVAL for a malformed area; <paramref name="supplementaryGroup"/> from FUSE_EXT_GROUPS.</summary>
    public static int Parse(ReadOnlySpan<byte> area, out uint? supplementaryGroup)
    {
        supplementaryGroup = null;
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

            area = area[(int)size..];
        }

        return 0;
    }
}
