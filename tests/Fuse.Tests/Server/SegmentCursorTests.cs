using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Tests.Server;

/// <summary>The cursor under the reader and writer: every move is bounds-checked before a byte moves.</summary>
public class SegmentCursorTests
{
    private static (NativeSegments Memory, SegmentList List) Make(byte[] data, params int[] cuts)
    {
        var memory = NativeSegments.FromBytes(data, cuts);
        var list = new SegmentList();
        Assert.True(list.Set(memory.Segments));
        return (memory, list);
    }

    [Fact]
    public void Copies_across_segments_and_refuses_partial_copies()
    {
        byte[] data = Enumerable.Range(0, 20).Select(i => (byte)i).ToArray();
        var (memory, list) = Make(data, 3, 4, 11);
        using (memory)
        {
            var cursor = new SegmentCursor(list, 20);
            var buffer = new byte[15];
            Assert.True(cursor.CopyTo(buffer));
            Assert.Equal(data[..15], buffer);

            // Six bytes asked, five left: nothing moves.
            Assert.False(cursor.CopyTo(new byte[6]));
            Assert.Equal(15, cursor.Position);
            Assert.True(cursor.CopyTo(new byte[5]));
            Assert.Equal(0, cursor.Remaining);
        }
    }

    [Fact]
    public void Limit_bounds_reads_below_the_segments_total()
    {
        var (memory, list) = Make(new byte[32], 8);
        using (memory)
        {
            var cursor = new SegmentCursor(list, 10);
            Assert.False(cursor.CopyTo(new byte[11]));
            Assert.True(cursor.Skip(10));
            Assert.False(cursor.Skip(1));
            Assert.False(cursor.Seek(11));
            Assert.False(cursor.Seek(-1));
        }
    }

    [Fact]
    public void Take_slices_segments_into_iovecs()
    {
        var (memory, list) = Make(new byte[100], 10, 50);
        using (memory)
        {
            var cursor = new SegmentCursor(list, 100);
            Assert.True(cursor.Skip(5));
            var output = new IoVec[3];
            int count = cursor.Take(60, output);

            Assert.Equal(3, count);
            Assert.Equal((memory.Segments[0].Base + 5, (nuint)5), (output[0].Base, output[0].Length));
            Assert.Equal((memory.Segments[1].Base, (nuint)40), (output[1].Base, output[1].Length));
            Assert.Equal((memory.Segments[2].Base, (nuint)15), (output[2].Base, output[2].Length));
            Assert.Equal(65, cursor.Position);

            // Too few output slots or bytes: -1 and the cursor stays put.
            Assert.Equal(-1, cursor.Take(36, output));
            Assert.Equal(-1, new SegmentCursor(list, 100).Take(100, new IoVec[2]));
            Assert.Equal(65, cursor.Position);
        }
    }

    [Fact]
    public void Empty_segments_are_dropped_and_overflowing_lengths_refused()
    {
        var list = new SegmentList();
        Assert.True(list.Set([new IoVec(100, 0), new IoVec(200, 8), new IoVec(300, 0)]));
        Assert.Equal(1, list.Count);
        Assert.Equal(8, list.TotalLength);

        Assert.False(list.Set([new IoVec(100, unchecked((nuint)long.MaxValue)), new IoVec(200, 1)]));
        Assert.Equal(0, list.Count);
        Assert.False(list.Set([new IoVec(100, nuint.MaxValue)]));
    }

    [Fact]
    public void Extensions_parser_checks_every_size()
    {
        Assert.Equal(0, RequestExtensions.Parse([], out uint? group, out _));
        Assert.Null(group);

        // size 16, type EXT_GROUPS, nr_groups 1, group 42
        byte[] groups = [16, 0, 0, 0, 32, 0, 0, 0, 1, 0, 0, 0, 42, 0, 0, 0];
        Assert.Equal(0, RequestExtensions.Parse(groups, out group, out _));
        Assert.Equal(42u, group);

        Assert.Equal(-Errno.EINVAL, RequestExtensions.Parse(groups[..12], out _, out _)); // header claims more than present
        byte[] unaligned = [12, 0, 0, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        Assert.Equal(-Errno.EINVAL, RequestExtensions.Parse(unaligned, out _, out _));
        byte[] tiny = [4, 0, 0, 0, 32, 0, 0, 0];
        Assert.Equal(-Errno.EINVAL, RequestExtensions.Parse(tiny, out _, out _));
        byte[] zero = [0, 0, 0, 0, 0, 0, 0, 0];
        Assert.Equal(-Errno.EINVAL, RequestExtensions.Parse(zero, out _, out _));

        // No security context (a guest without a labeling LSM: nr_secctx 0) followed by groups.
        byte[] both = [8, 0, 0, 0, 0, 0, 0, 0, .. groups];
        Assert.Equal(0, RequestExtensions.Parse(both, out group, out SecurityLabel? label));
        Assert.Equal(42u, group);
        Assert.Null(label);

        // One context, as fs/fuse/dir.c lays it out: header, fuse_secctx {size, padding}, name NUL, value, padded.
        byte[] ctx = SecurityContextRecord.Of("security.selinux", "system_u:object_r:etc_t:s0");
        Assert.Equal(0, RequestExtensions.Parse([.. ctx, .. groups], out group, out label));
        Assert.Equal("security.selinux"u8.ToArray(), label!.Name);
        Assert.Equal("system_u:object_r:etc_t:s0"u8.ToArray(), label.Value);
        Assert.Equal(42u, group);

        // A context outside security. is not taken (a guest must not set trusted. attributes this way).
        Assert.Equal(0, RequestExtensions.Parse(SecurityContextRecord.Of("trusted.x", "v"), out _, out label));
        Assert.Null(label);
        // A count the record cannot hold, a value running past it, a name without NUL: malformed.
        Assert.Equal(-Errno.EINVAL, RequestExtensions.Parse([8, 0, 0, 0, 1, 0, 0, 0], out _, out _));
        byte[] longValue = SecurityContextRecord.Of("security.selinux", "abc");
        longValue[8] = 200;
        Assert.Equal(-Errno.EINVAL, RequestExtensions.Parse(longValue, out _, out _));
        byte[] noNul = SecurityContextRecord.Of("security.selinux", "");
        noNul.AsSpan(16).Fill((byte)'x');
        Assert.Equal(-Errno.EINVAL, RequestExtensions.Parse(noNul, out _, out _));
    }
}
