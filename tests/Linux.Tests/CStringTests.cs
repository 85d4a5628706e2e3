namespace VirtioFsd.Linux.Tests;

/// <summary>
/// The NUL-terminating copy every *at and xattr wrapper goes through, and the errors the wrappers
/// report from it before any syscall (fd -1 makes a syscall that did run answer -EBADF instead).
/// </summary>
public class CStringTests
{
    private const int PathMax = 4096;
    private const int XattrNameBuffer = Libc.XattrNameMax + 2;

    private static byte[] Name(int length, byte fill = (byte)'a')
    {
        byte[] name = new byte[length];
        Array.Fill(name, fill);
        return name;
    }

    [Fact]
    public void EmptyNameBecomesALoneNul()
    {
        Span<byte> buffer = [0xFF, 0xFF, 0xFF];
        Assert.Equal(0, CString.Copy(default, buffer));
        Assert.Equal(0, buffer[0]);
        Assert.Equal(0xFF, buffer[1]);
    }

    [Fact]
    public void NameFillingTheBufferUpToItsNulFits()
    {
        Span<byte> buffer = stackalloc byte[8];
        buffer.Fill(0xFF);
        Assert.Equal(0, CString.Copy("1234567"u8, buffer));
        Assert.Equal("1234567\0"u8.ToArray(), buffer.ToArray());
    }

    [Fact]
    public void NameOneByteTooLongIsNameTooLong()
    {
        Span<byte> buffer = stackalloc byte[8];
        Assert.Equal(-Errno.ENAMETOOLONG, CString.Copy("12345678"u8, buffer));
    }

    [Fact]
    public void InteriorNulIsInvalid()
    {
        Span<byte> buffer = stackalloc byte[8];
        Assert.Equal(-Errno.EINVAL, CString.Copy("ab\0cd"u8, buffer));
        Assert.Equal(-Errno.EINVAL, CString.Copy("\0"u8, buffer));
    }

    [Fact]
    public void LengthIsCheckedBeforeNul()
    {
        Span<byte> buffer = stackalloc byte[4];
        Assert.Equal(-Errno.ENAMETOOLONG, CString.Copy("a\0bcd"u8, buffer));
    }

    [Fact]
    public void PairReportsTheFirstNamesErrorAndLeavesTheSecondBufferAlone()
    {
        Span<byte> first = stackalloc byte[4];
        Span<byte> second = [0xFF, 0xFF, 0xFF, 0xFF];
        Assert.Equal(-Errno.EINVAL, CString.Copy("a\0"u8, first, "toolong"u8, second));
        Assert.Equal(0xFF, second[0]);
        Assert.Equal(-Errno.ENAMETOOLONG, CString.Copy("ok"u8, first, "toolong"u8, second));
        Assert.Equal(0, CString.Copy("ok"u8, first, "abc"u8, second));
        Assert.Equal("ok\0"u8.ToArray(), first[..3].ToArray());
        Assert.Equal("abc\0"u8.ToArray(), second.ToArray());
    }

    [Fact]
    public void PathWrappersRefuseBeforeTheSyscall()
    {
        Assert.Equal(-Errno.ENAMETOOLONG, Libc.Mkdirat(-1, Name(PathMax), 0x1ED /* 0755 */));
        Assert.Equal(-Errno.EBADF, Libc.Mkdirat(-1, Name(PathMax - 1), 0x1ED /* 0755 */));
        Assert.Equal(-Errno.EINVAL, Libc.Unlinkat(-1, "a\0b"u8, 0));
        Assert.Equal(-Errno.ENAMETOOLONG, Libc.Openat(-1, Name(PathMax), Libc.O_RDONLY));
        Assert.Equal(-Errno.EINVAL, Libc.StatxAt(-1, "\0"u8, 0, Libc.STATX_BASIC_STATS, out _));
        // Two names: the first one's error wins, and the second is checked when the first is fine.
        Assert.Equal(-Errno.EINVAL, Libc.Linkat(-1, "a\0"u8, -1, Name(PathMax), 0));
        Assert.Equal(-Errno.ENAMETOOLONG, Libc.Renameat2(-1, "a"u8, -1, Name(PathMax), 0));
        Assert.Equal(-Errno.EINVAL, Libc.Symlinkat("t"u8, -1, "a\0"u8));
        Assert.Equal(-Errno.EBADF, Libc.Symlinkat("t"u8, -1, "a"u8));
    }

    [Fact]
    public void XattrNameTooLongIsRange()
    {
        Assert.Equal(-Errno.ERANGE, Libc.Fgetxattr(-1, Name(XattrNameBuffer), default));
        Assert.Equal(-Errno.EBADF, Libc.Fgetxattr(-1, "user.a"u8, default));
        Assert.Equal(-Errno.ERANGE, Libc.Fsetxattr(-1, Name(XattrNameBuffer), "v"u8, 0));
        Assert.Equal(-Errno.ERANGE, Libc.Fremovexattr(-1, Name(XattrNameBuffer)));
        Assert.Equal(-Errno.EINVAL, Libc.Fremovexattr(-1, "user.\0"u8));
        Assert.Equal(-Errno.ERANGE, Libc.RemovexattrAt(-1, "a"u8, 0, Name(XattrNameBuffer)));
    }

    [Fact]
    public void XattrPathTooLongIsRangeWhereANameIsAlsoTakenAndNameTooLongWhereNot()
    {
        // As the wrappers have always answered: the mapping covers whatever the pair reported.
        Assert.Equal(-Errno.ERANGE, Libc.Getxattr(Name(PathMax), "user.a"u8, default));
        Assert.Equal(-Errno.ERANGE, Libc.GetxattrAt(-1, Name(PathMax), 0, "user.a"u8, default));
        Assert.Equal(-Errno.ENAMETOOLONG, Libc.Listxattr(Name(PathMax), default));
        Assert.Equal(-Errno.ENAMETOOLONG, Libc.ListxattrAt(-1, Name(PathMax), 0, default));
        Assert.Equal(-Errno.EINVAL, Libc.Setxattr("a\0"u8, Name(XattrNameBuffer), "v"u8, 0));
    }
}
