using System.Runtime.InteropServices;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Linux;
using VirtioFsd.Linux.IoEngine;

namespace VirtioFsd.FuseMount;

/// <summary>
/// One /dev/fuse request in flight: a native buffer the kernel's request is read into, a separate one
/// the reply is built in, and the <see cref="FuseRequest"/> describing them. Native so that the
/// segments' addresses stay valid while a deferred completion (SETLKW) holds them on another thread.
/// </summary>
internal sealed unsafe class RequestBuffers : IDisposable
{
    private byte* input;
    private byte* output;

    /// <param name="completion">The transport that writes the reply back.</param>
    public RequestBuffers(int inputSize, int outputSize, IFuseRequestCompletion completion)
    {
        // /dev/fuse reader threads block in read(2), not in an engine: file data moves with blocking syscalls.
        Request = new FuseRequest(completion, SyncFileIo.Instance);
        InputSize = inputSize;
        OutputSize = outputSize;
        input = (byte*)NativeMemory.AlignedAlloc((nuint)inputSize, 4096);
        output = (byte*)NativeMemory.AlignedAlloc((nuint)outputSize, 4096);
    }

    public int InputSize { get; }

    public int OutputSize { get; }

    public FuseRequest Request { get; }

    /// <summary>Where read(2) puts the request.</summary>
    // Sound: the buffer is InputSize bytes long and lives until Dispose.
    public Span<byte> Input => new(input, InputSize);

    /// <summary>The reply's first <paramref name="length"/> bytes (header included), for write(2).</summary>
    // Sound: ReplyLength never exceeds the writable segment's length, OutputSize.
    public ReadOnlySpan<byte> Reply(uint length) => new(output, (int)Math.Min(length, (uint)OutputSize));

    /// <summary>Points the request at <paramref name="length"/> bytes just read and at the whole reply buffer.</summary>
    public void Prepare(int length)
    {
        Span<IoVec> readable = [new IoVec((nint)input, (nuint)length)];
        Span<IoVec> writable = [new IoVec((nint)output, (nuint)OutputSize)];
        Request.Reset(readable, writable, this);
    }

    public void Dispose()
    {
        NativeMemory.AlignedFree(input);
        NativeMemory.AlignedFree(output);
        input = null;
        output = null;
    }
}
