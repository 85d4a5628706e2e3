using System.Runtime.InteropServices;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Linux;
using VirtioFsd.Linux.IoEngine;

namespace VirtioFsd.Fuzz.Support;

/// <summary>
/// One FUSE request handed to a <see cref="FuseServer"/> as a transport would: the request copied
/// into native segments cut at given places, and writable segments each fenced by canary bytes, so
/// a reply written outside the writable area is caught. Counts completions.
/// </summary>
public sealed unsafe class NativeExchange : IFuseRequestCompletion, IDisposable
{
    private const int Fence = 64;
    private const byte Canary = 0xA5;

    private readonly byte* _readable;
    private readonly byte* _writable;
    private readonly int _writableBlock;
    private readonly int[] _replySizes;
    private readonly ManualResetEventSlim _done = new();
    private int _completions;

    public NativeExchange(byte[] request, int[] cuts, int[] replySizes)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(cuts);
        _replySizes = replySizes ?? throw new ArgumentNullException(nameof(replySizes));
        // Freed in Dispose; every IoVec below points into these two blocks.
        _readable = (byte*)NativeMemory.Alloc((nuint)Math.Max(1, request.Length));
        request.CopyTo(new Span<byte>(_readable, request.Length));
        var readable = new List<IoVec>();
        int at = 0;
        foreach (int cut in cuts.Where(c => c > 0 && c < request.Length).Order().Distinct().Append(request.Length))
        {
            if (cut > at)
            {
                readable.Add(new IoVec((nint)(_readable + at), (nuint)(cut - at)));
                at = cut;
            }
        }
        _writableBlock = Fence + replySizes.Sum(s => s + Fence);
        _writable = (byte*)NativeMemory.Alloc((nuint)_writableBlock);
        new Span<byte>(_writable, _writableBlock).Fill(Canary);
        var writable = new List<IoVec>();
        int w = Fence;
        foreach (int size in replySizes)
        {
            new Span<byte>(_writable + w, size).Clear();
            writable.Add(new IoVec((nint)(_writable + w), (nuint)size));
            w += size + Fence;
        }
        WritableLength = replySizes.Sum();
        Request = new FuseRequest(this, SyncFileIo.Instance);
        Request.Reset(readable.ToArray(), writable.ToArray(), this);
    }

    public FuseRequest Request { get; }

    public long WritableLength { get; }

    public int Completions => Volatile.Read(ref _completions);

    public void Complete(FuseRequest request)
    {
        FuzzInvariantException.Check(ReferenceEquals(request, Request), "completion for another request");
        Interlocked.Increment(ref _completions);
        _done.Set();
    }

    /// <summary>Waits (bounded, to catch a request never completed) and returns the reply bytes.</summary>
    public byte[]? WaitForReply(TimeSpan bound)
    {
        if (!_done.Wait(bound))
        {
            return null;
        }
        var reply = new byte[WritableLength];
        int w = Fence;
        int r = 0;
        foreach (int size in _replySizes)
        {
            new ReadOnlySpan<byte>(_writable + w, size).CopyTo(reply.AsSpan(r));
            r += size;
            w += size + Fence;
        }
        return reply;
    }

    /// <summary>True when every fence byte around the writable segments is still the canary.</summary>
    public bool FencesIntact()
    {
        int w = 0;
        foreach (int size in _replySizes.Append(0))
        {
            if (new ReadOnlySpan<byte>(_writable + w, Fence).IndexOfAnyExcept(Canary) >= 0)
            {
                return false;
            }
            w += Fence + size;
        }
        return true;
    }

    public void Dispose()
    {
        if (!_done.IsSet)
        {
            // Never completed: the server may still write the reply later, so the memory is left to it (leaked).
            return;
        }
        NativeMemory.Free(_readable);
        NativeMemory.Free(_writable);
        _done.Dispose();
    }
}
