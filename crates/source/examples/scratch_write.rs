// scratch: not committed
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn write_new(p: &Path, data: &[u8]) {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o666)
        .open(p)
        .unwrap()
        .write_all(data)
        .unwrap();
}

fn main() {
    let base = PathBuf::from(std::env::args().nth(1).unwrap());
    let data = vec![b'x'; 540];
    // files: 100 dirs x 50, listed in "pack order" = interleaved across dirs (i-major)
    let files: Vec<(usize, usize)> = (0..5000).map(|i| (i % 100, i)).collect();
    for round in 0..3 {
        for (name, threads, by_dir) in [
            ("seq", 1, false),
            ("chunk4", 4, false),
            ("dir2", 2, true),
            ("dir4", 4, true),
            ("dir8", 8, true),
            ("chunk8", 8, false),
        ] {
            let out = base.join(format!("{name}-{round}"));
            let t = Instant::now();
            std::fs::create_dir(&out).unwrap();
            for d in 0..100 {
                std::fs::create_dir(out.join(format!("app-{d:03}"))).unwrap();
            }
            let mut order = files.clone();
            if by_dir {
                order.sort();
            }
            let chunk = order.len().div_ceil(threads);
            std::thread::scope(|s| {
                for part in order.chunks(chunk) {
                    let out = &out;
                    let data = &data;
                    s.spawn(move || {
                        for (d, i) in part {
                            write_new(&out.join(format!("app-{d:03}/cm-{i}.yaml")), data)
                        }
                    });
                }
            });
            println!(
                "{round} {name}: {:.0} ms",
                t.elapsed().as_secs_f64() * 1000.0
            );
        }
    }
}
