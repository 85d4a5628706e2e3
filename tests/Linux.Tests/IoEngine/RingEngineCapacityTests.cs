using System.Runtime.InteropServices;
using VirtioFsd.Linux.IoEngine;

namespace VirtioFsd.Linux.Tests.IoEngine;

/// <summary>
/// The engine's ring has one submission slot per operation a queue can have in flight, not more: an SQE is held only
/// until it is submitted. Every operation of a full queue must still be in flight at once, beside the engine's polls,
/// and complete with its own result.
/// </summary>
public sealed unsafe class RingEngineCapacityTests
{
    [Fact]
    public void As_many_reads_in_flight_as_the_capacity_all_complete_with_their_own_data()
    {
        const int capacity = 8;
        Assert.True(RingEngine.TryCreate(capacity, out RingEngine? engine, out int error), $"io_uring setup: {error}");
        int stop = Libc.EventFd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        var readEnds = new int[capacity];
        var writeEnds = new int[capacity];
        byte* buffers = (byte*)NativeMemory.AllocZeroed(capacity * 16);
        try
        {
            using (engine)
            {
                engine.InlineFirst = false;
                engine.Watch(stop, -1);
                var reads = new ValueTask<long>[capacity];
                for (int i = 0; i < capacity; i++)
                {
                    Assert.Equal(0, Libc.Pipe2(Libc.O_CLOEXEC, out readEnds[i], out writeEnds[i]));
                    // Sound: the buffer lives until the end of the test, after every read completed.
                    var vec = new IoVec((nint)(buffers + (i * 16)), 16);
                    // Nothing to read yet: each read waits in the kernel, holding its operation, not an SQE.
                    reads[i] = engine.Read(new FdLease(readEnds[i]), new ReadOnlySpan<IoVec>(in vec), -1);
                }
                Assert.Equal(capacity, engine.InFlight);
                for (int i = capacity - 1; i >= 0; i--)
                {
                    Assert.Equal(5, Libc.Write(writeEnds[i], "pipe"u8.ToArray().Append((byte)('0' + i)).ToArray()));
                }
                for (int spins = 0; engine.InFlight > 0 && spins < 100; spins++)
                {
                    engine.Wait(TimeSpan.FromSeconds(5));
                }
                Assert.Equal(0, engine.InFlight);
                for (int i = 0; i < capacity; i++)
                {
                    Assert.True(reads[i].IsCompleted);
#pragma warning disable xUnit1031 // completed above, on this thread: nothing blocks
                    Assert.Equal(5, reads[i].Result);
#pragma warning restore xUnit1031
                    Assert.Equal($"pipe{i}", System.Text.Encoding.ASCII.GetString(buffers + (i * 16), 5));
                }
            }
        }
        finally
        {
            foreach (int fd in readEnds.Concat(writeEnds).Where(fd => fd > 0))
            {
                Libc.Close(fd);
            }
            Libc.Close(stop);
            NativeMemory.Free(buffers);
        }
    }
}
