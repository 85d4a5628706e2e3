namespace VirtioFsd.TestSupport;

/// <summary>
/// A fresh directory under the temp directory, removed with everything in it on dispose. The prefix says what
/// the test keeps there (e.g. "virtiofsd-escape-"), so a directory a failed run left behind names its owner.
/// </summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string prefix)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        Path = Directory.CreateTempSubdirectory(prefix).FullName;
    }

    public string Path { get; }

    /// <summary>A path below this directory.</summary>
    public string Combine(string relative) => System.IO.Path.Combine(Path, relative);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Still busy (a mount a failed test left) or holding a name .NET cannot delete: left to the temp
            // cleaner, so that a failed clean-up never hides the test's own result.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
