using System.Runtime.InteropServices;
using System.Text;
using VirtioFsd.Linux.IoUring;

namespace VirtioFsd.Linux.Tests.IoUring;

/// <summary>Helpers shared by the ring tests: ring creation, one-shot submission, native memory.</summary>
// Unsafe only to hand out NativeBuffer pointers; see NativeBuffer for why they are valid.
internal static unsafe class RingTestSupport
{
    public static Ring CreateRing(uint entries, RingOptions options = default)
    {
        Assert.True(Ring.TryCreate(entries, options, out Ring? ring, out int error), $"io_uring_setup failed: {Errno.Describe(error)}");
        return ring;
    }

    public static SubmissionEntry Sqe(Ring ring)
    {
        Assert.True(ring.TryGetSqe(out SubmissionEntry e), "no free SQE");
        return e;
    }

    /// <summary>Submits everything queued, waits for one completion and returns it.</summary>
    public static IoUringCqe CompleteOne(Ring ring)
    {
        int r = ring.SubmitAndWait(1, null);
        Assert.True(r >= 0, $"submit failed: {Errno.Describe(r)}");
        Assert.True(ring.TryGetCompletion(out IoUringCqe cqe));
        return cqe;
    }

    /// <summary>Reaps exactly <paramref name="count"/> completions, waiting as needed, keyed by user_data.</summary>
    public static Dictionary<ulong, IoUringCqe> CompleteMany(Ring ring, int count)
    {
        var result = new Dictionary<ulong, IoUringCqe>();
        while (result.Count < count)
        {
            int r = ring.SubmitAndWait(1, null);
            Assert.True(r >= 0, $"submit failed: {Errno.Describe(r)}");
            while (ring.TryGetCompletion(out IoUringCqe cqe))
            {
                Assert.True(result.TryAdd(cqe.UserData, cqe), $"duplicate completion {cqe.UserData}");
            }
        }
        return result;
    }

    /// <summary>A NUL-terminated UTF-8 path in native memory (freed by <see cref="NativeBuffer.Dispose"/>).</summary>
    public static NativeBuffer Path(string path)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(path + "\0");
        var buffer = new NativeBuffer(bytes.Length);
        bytes.CopyTo(buffer.Span);
        return buffer;
    }
}

/// <summary>Zeroed native memory, so the kernel writes into memory the GC never moves.</summary>
internal sealed unsafe class NativeBuffer : IDisposable
{
    public NativeBuffer(int length)
    {
        Length = length;
        // Sound: a fresh zeroed allocation of Length bytes, freed once in Dispose.
        Pointer = (byte*)NativeMemory.AlignedAlloc((nuint)length, 4096);
        new Span<byte>(Pointer, length).Clear();
    }

    public byte* Pointer { get; private set; }

    public int Length { get; }

    // Sound: Pointer covers Length bytes until Dispose.
    public Span<byte> Span => new(Pointer, Length);

    public IoVec AsIoVec(int offset, int length) => new((nint)(Pointer + offset), (nuint)length);

    public void Dispose()
    {
        if (Pointer != null)
        {
            NativeMemory.AlignedFree(Pointer);
            Pointer = null;
        }
    }
}
