using System.Runtime.InteropServices;
using VirtioFsd.Linux.IoUring;

namespace VirtioFsd.Linux.Tests.IoUring;

/// <summary>Pins every io_uring wire struct to its size and key offsets in linux/io_uring.h.</summary>
public sealed class IoUringStructSizeTests
{
    [Theory]
    [InlineData(typeof(IoUringSqe), 64)]
    [InlineData(typeof(IoUringCqe), 16)]
    [InlineData(typeof(IoUringParams), 120)]
    [InlineData(typeof(IoSqRingOffsets), 40)]
    [InlineData(typeof(IoCqRingOffsets), 40)]
    [InlineData(typeof(KernelTimespec), 16)]
    [InlineData(typeof(IoUringGetEventsArg), 24)]
    [InlineData(typeof(OpenHow), 24)]
    [InlineData(typeof(IoUringProbe), 16)]
    [InlineData(typeof(IoUringProbeOp), 8)]
    [InlineData(typeof(IoUringRsrcRegister), 32)]
    [InlineData(typeof(IoUringRsrcUpdate2), 32)]
    [InlineData(typeof(IoVec), 16)]
    public void StructSizeMatchesKernelHeader(Type type, int size) => Assert.Equal(size, Marshal.SizeOf(type));

    [Theory]
    [InlineData(nameof(IoUringSqe.Opcode), 0)]
    [InlineData(nameof(IoUringSqe.Flags), 1)]
    [InlineData(nameof(IoUringSqe.IoPriority), 2)]
    [InlineData(nameof(IoUringSqe.Fd), 4)]
    [InlineData(nameof(IoUringSqe.Offset), 8)]
    [InlineData(nameof(IoUringSqe.Address), 16)]
    [InlineData(nameof(IoUringSqe.Length), 24)]
    [InlineData(nameof(IoUringSqe.OpFlags), 28)]
    [InlineData(nameof(IoUringSqe.UserData), 32)]
    [InlineData(nameof(IoUringSqe.BufferIndex), 40)]
    [InlineData(nameof(IoUringSqe.Personality), 42)]
    [InlineData(nameof(IoUringSqe.FileIndex), 44)]
    [InlineData(nameof(IoUringSqe.Address3), 48)]
    public void SqeFieldOffsetsMatchKernelHeader(string field, int offset) =>
        Assert.Equal(offset, (int)Marshal.OffsetOf<IoUringSqe>(field));

    [Fact]
    public void ParamsOffsetsMatchKernelHeader()
    {
        Assert.Equal(20, (int)Marshal.OffsetOf<IoUringParams>(nameof(IoUringParams.Features)));
        Assert.Equal(40, (int)Marshal.OffsetOf<IoUringParams>(nameof(IoUringParams.SqOff)));
        Assert.Equal(80, (int)Marshal.OffsetOf<IoUringParams>(nameof(IoUringParams.CqOff)));
        Assert.Equal(8, (int)Marshal.OffsetOf<IoUringCqe>(nameof(IoUringCqe.Result)));
        Assert.Equal(12, (int)Marshal.OffsetOf<IoUringCqe>(nameof(IoUringCqe.Flags)));
        Assert.Equal(16, (int)Marshal.OffsetOf<IoUringGetEventsArg>(nameof(IoUringGetEventsArg.Timespec)));
    }
}
