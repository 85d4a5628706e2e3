namespace VirtioFsd.Bench.Workloads;

/// <summary>
/// The shared directory both daemons serve, created once per run so both read the same host files:
/// a file for random reads (read once here so it sits in the host page cache), a file for sequential
/// reads, files to overwrite, a directory of names to look up, a 10,000-entry directory to list and an
/// empty directory for create/unlink.
/// </summary>
public sealed class DataSet
{
    public const string RandomFile = "rand.dat";
    public const string RandomWriteFile = "rand-write.dat";
    public const string SequentialFile = "seq.dat";
    public const string NamesDir = "names";
    public const string BigDir = "big";
    public const string ScratchDir = "scratch";

    public DataSet(string root, long randomFileBytes, long sequentialFileBytes, int names, int bigDirEntries)
    {
        Root = root;
        RandomFileBytes = randomFileBytes;
        SequentialFileBytes = sequentialFileBytes;
        Names = names;
        BigDirEntries = bigDirEntries;
    }

    public string Root { get; }

    public long RandomFileBytes { get; }

    public long SequentialFileBytes { get; }

    public int Names { get; }

    public int BigDirEntries { get; }

    public static string NameOf(int i) => "f" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Writes the tree (idempotent for files of the right size) and warms the page cache.</summary>
    public void Create()
    {
        Directory.CreateDirectory(Root);
        FillFile(Path.Combine(Root, RandomFile), RandomFileBytes);
        FillFile(Path.Combine(Root, RandomWriteFile), RandomFileBytes);
        FillFile(Path.Combine(Root, SequentialFile), SequentialFileBytes);
        FillDir(Path.Combine(Root, NamesDir), Names);
        FillDir(Path.Combine(Root, BigDir), BigDirEntries);
        string scratch = Path.Combine(Root, ScratchDir);
        if (Directory.Exists(scratch))
        {
            Directory.Delete(scratch, true);
        }
        Directory.CreateDirectory(scratch);
        Warm(Path.Combine(Root, RandomFile));
        Warm(Path.Combine(Root, SequentialFile));
    }

    private static void FillFile(string path, long bytes)
    {
        if (File.Exists(path) && new FileInfo(path).Length == bytes)
        {
            return;
        }
        byte[] block = new byte[1 << 20];
        new Random(42).NextBytes(block);
        using var f = new FileStream(path, FileMode.Create, FileAccess.Write);
        for (long done = 0; done < bytes; done += block.Length)
        {
            f.Write(block, 0, (int)Math.Min(block.Length, bytes - done));
        }
    }

    private static void FillDir(string path, int count)
    {
        Directory.CreateDirectory(path);
        for (int i = 0; i < count; i++)
        {
            string f = Path.Combine(path, NameOf(i));
            if (!File.Exists(f))
            {
                File.WriteAllBytes(f, []);
            }
        }
    }

    private static void Warm(string path)
    {
        byte[] buffer = new byte[1 << 20];
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read);
        while (f.Read(buffer, 0, buffer.Length) > 0)
        {
        }
    }
}
