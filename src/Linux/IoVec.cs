using System.Runtime.InteropServices;

namespace VirtioFsd.Linux;

/// <summary>
/// <c>struct iovec</c> (sys/uio.h): one contiguous piece of memory. The transports describe a
/// request's buffers as lists of these so that file data can move between a host file and
/// (mapped) guest memory with preadv/pwritev or io_uring without a managed copy.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct IoVec
{
    public nint Base;
    public nuint Length;

    public IoVec(nint @base, nuint length)
    {
        Base = @base;
        Length = length;
    }
}
