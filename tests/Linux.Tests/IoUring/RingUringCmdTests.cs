using System.Runtime.InteropServices;
using VirtioFsd.Linux.IoUring;

namespace VirtioFsd.Linux.Tests.IoUring;

/// <summary>128-byte SQEs (IORING_SETUP_SQE128) and IORING_OP_URING_CMD, which FUSE-over-io_uring needs.</summary>
public sealed class RingUringCmdTests
{
    [Fact]
    public void Sqe128_ring_hands_out_128_byte_slots_through_several_wraps()
    {
        using Ring ring = RingTestSupport.CreateRing(4, new RingOptions { SetupFlags = IoUringConstants.SetupSqe128 });
        Assert.True(ring.HasLargeSqes);
        for (ulong round = 0; round < 3; round++)
        {
            for (ulong i = 0; i < ring.SqEntries; i++)
            {
                SubmissionEntry e = RingTestSupport.Sqe(ring);
                Assert.Equal(SubmissionEntry.CommandLength, e.Command.Length);
                Assert.True(e.Command.IndexOfAnyExcept((byte)0) < 0, "the command area of a new SQE is zeroed");
                e.Command.Fill(0xA5); // dirt the next round must not see
                e.Nop((round * 100) + i);
            }
            Dictionary<ulong, IoUringCqe> done = RingTestSupport.CompleteMany(ring, (int)ring.SqEntries);
            for (ulong i = 0; i < ring.SqEntries; i++)
            {
                Assert.Equal(0, done[(round * 100) + i].Result);
            }
        }
    }

    [Fact]
    public void Ring_of_64_byte_sqes_has_no_command_area()
    {
        using Ring ring = RingTestSupport.CreateRing(4);
        Assert.False(ring.HasLargeSqes);
        Assert.Equal(0, RingTestSupport.Sqe(ring).Command.Length);
    }

    [Fact]
    public void Uring_cmd_reaches_the_file_and_a_file_without_commands_refuses_it()
    {
        using Ring ring = RingTestSupport.CreateRing(4, new RingOptions { SetupFlags = IoUringConstants.SetupSqe128 });
        Assert.True(ring.IsSupported(IoUringOp.UringCmd));
        Assert.Equal(0, Libc.Pipe2(Libc.O_CLOEXEC, out int readFd, out int writeFd));
        try
        {
            SubmissionEntry e = RingTestSupport.Sqe(ring);
            e.UringCmd(readFd, 1, 0, 0, 7);
            MemoryMarshal.Write(e.Command, 42UL);
            Assert.Equal((byte)IoUringOp.UringCmd, e.Sqe.Opcode);
            Assert.Equal(1UL, e.Sqe.Offset); // cmd_op in the low half of off
            IoUringCqe cqe = RingTestSupport.CompleteOne(ring);
            Assert.Equal(7UL, cqe.UserData);
            // A pipe has no ->uring_cmd: io_uring_cmd_prep/issue answer EOPNOTSUPP.
            Assert.Equal(-Errno.EOPNOTSUPP, cqe.Result);
        }
        finally
        {
            Libc.Close(readFd);
            Libc.Close(writeFd);
        }
    }
}
