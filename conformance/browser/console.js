// Headless Chromium as a person using fastgate's web console:
//   sign in; create a bucket; upload a file (all of it sent); upload the same bytes under
//   another name (instant: nothing sent); start a large multipart upload, reload the
//   page mid-way, select the file again and let it resume (the server receives the file
//   once, plus at most one part); download it and compare; screenshots of the console
//   and of the dedup page.
//
//   node console.js CONFIG.json      (written by ../console.sh)
//
// Bytes received are read from the server's own counter
// (fastgate_request_body_bytes_total on its metrics listener). Prints one JSON object
// with what it measured; throws (exit 1) on any difference.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const MiB = 1024 * 1024;

async function bodyBytes(cfg) {
    const text = await (await fetch(cfg.metricsUrl)).text();
    const line = text.split('\n').find((l) => l.startsWith('fastgate_request_body_bytes_total '));
    if (!line) throw new Error('no fastgate_request_body_bytes_total in /metrics');
    return Number(line.split(' ')[1]);
}

function sha256File(p) {
    return crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
}

function check(cond, what) {
    if (!cond) throw new Error(what);
}

async function uploadAndWait(page, file, key, states) {
    await page.setInputFiles('#file-input', file);
    const row = page.locator(`.upload[data-key="${key}"]`).first();
    await row.waitFor();
    await page.waitForFunction(
        ([key, states]) => {
            const r = document.querySelector(`.upload[data-key="${key}"]`);
            return r && (states.includes(r.dataset.state) || r.dataset.state === 'error');
        },
        [key, states],
    );
    const state = await row.getAttribute('data-state');
    const status = await row.locator('.status').textContent();
    check(states.includes(state), `upload of ${key}: state ${state}: ${status}`);
    return status;
}

async function main() {
    const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
    const out = {};
    const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fastgate-chromium-'));
    let context;
    try {
        context = await chromium.launchPersistentContext(userDataDir, {
            executablePath: '/usr/bin/chromium',
            headless: true,
            acceptDownloads: true,
            viewport: { width: 1280, height: 760 },
            timeout: 60000,
            args: [
                '--headless',
                '--no-sandbox',
                '--disable-gpu',
                '--disable-quic',
                '--no-first-run',
                '--disable-background-networking',
                '--disable-component-update',
                '--disable-sync',
            ],
        });
        context.setDefaultTimeout(60000);
        const page = context.pages()[0] || (await context.newPage());
        const consoleLines = [];
        page.on('console', (m) => consoleLines.push(m.text()));
        page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
        page.on('dialog', (d) => d.accept());
        try {
            // Small parts, so that the large file is several of them.
            await page.goto(`${cfg.consoleUrl}/?part=${cfg.partMiB}#/`);

            // Sign in. The secret must not reach localStorage (sessionStorage only).
            await page.fill('#access-key', cfg.accessKey);
            await page.fill('#secret-key', cfg.secretKey);
            await page.click('#sign-in');
            await page.locator('#create-bucket').waitFor();
            const local = await page.evaluate(() => JSON.stringify(localStorage));
            check(!local.includes(cfg.secretKey), 'the secret key is in localStorage');

            // A bucket, then into it.
            await page.fill('#new-bucket-name', cfg.bucket);
            await page.click('#create-bucket');
            await page.locator(`tr[data-bucket="${cfg.bucket}"] a`).click();
            await page.locator('#file-input').waitFor({ state: 'attached' });

            // 1. A file: all of it is sent.
            let before = await bodyBytes(cfg);
            await uploadAndWait(page, cfg.small, path.basename(cfg.small), ['done']);
            out.first = (await bodyBytes(cfg)) - before;
            check(out.first >= cfg.smallSize, `first upload: the server received ${out.first} of ${cfg.smallSize} bytes`);

            // 2. The same bytes under another name: instant, nothing sent.
            before = await bodyBytes(cfg);
            out.instantStatus = await uploadAndWait(page, cfg.smallCopy, path.basename(cfg.smallCopy), ['instant']);
            out.instant = (await bodyBytes(cfg)) - before;
            check(out.instant * 100 < cfg.smallSize, `instant re-upload: the server received ${out.instant} bytes`);

            // 3. A large file; the page is reloaded while part 4 is on its way (held back
            //    here, so the reload surely interrupts the upload), then resumed.
            const bigKey = path.basename(cfg.big);
            before = await bodyBytes(cfg);
            let held;
            const heldOne = new Promise((resolve) => (held = resolve));
            await page.route(
                (url) => url.searchParams.get('partNumber') === '4',
                async (route) => {
                    const req = route.request();
                    if (req.method() === 'PUT' && !req.headers()['x-fastgate-probe']) {
                        held();
                        return; // never sent: the reload cancels it
                    }
                    await route.continue();
                },
            );
            await page.setInputFiles('#file-input', cfg.big);
            await heldOne;
            out.beforeReload = (await bodyBytes(cfg)) - before;
            await page.unrouteAll({ behavior: 'ignoreErrors' });
            await page.reload();
            await page.locator('#pending li').first().waitFor();
            await page.locator('#file-input').waitFor({ state: 'attached' });
            out.resumeStatus = await uploadAndWait(page, cfg.big, bigKey, ['done']);
            out.big = (await bodyBytes(cfg)) - before;
            check(/resumed/.test(out.resumeStatus), `the large upload did not resume: ${out.resumeStatus}`);
            check(out.beforeReload > 0 && out.beforeReload < cfg.bigSize, `before the reload: ${out.beforeReload} bytes`);
            check(
                out.big >= cfg.bigSize && out.big <= cfg.bigSize + cfg.partMiB * MiB,
                `large upload with a reload: the server received ${out.big} bytes for a ${cfg.bigSize}-byte file (allowed: the file plus one part)`,
            );
            // The listing is refreshed after the upload: no unfinished upload any more.
            await page.locator('#pending').waitFor({ state: 'detached', timeout: 10000 });

            // 4. Download and compare.
            const [download] = await Promise.all([
                page.waitForEvent('download'),
                page.locator(`tr[data-key="${bigKey}"] button.download`).click(),
            ]);
            const saved = path.join(cfg.workDir, 'downloaded.bin');
            await download.saveAs(saved);
            check(sha256File(saved) === sha256File(cfg.big), 'the downloaded file differs from the uploaded one');
            out.downloaded = fs.statSync(saved).size;

            // 5. The copy once more, after the reload: instant again (and shown as such in
            //    the screenshot), then an object's details and the screenshots.
            before = await bodyBytes(cfg);
            await uploadAndWait(page, cfg.smallCopy, path.basename(cfg.smallCopy), ['instant']);
            check((await bodyBytes(cfg)) === before, 'the second instant upload sent bytes');
            await page.locator(`tr[data-key="${bigKey}"] a.file`).click();
            await page.locator('#details dl').waitFor();
            const details = await page.locator('#details dl').textContent();
            check(details.includes('Checksum SHA256'), `details without a checksum: ${details}`);
            await page.screenshot({ path: path.join(cfg.shotsDir, 'console.png') });
            await page.click('#nav-dedup');
            await page.waitForFunction(() => Number(document.querySelector('#dedup-body')?.dataset.samples) >= 3);
            const dedup = await page.locator('#dedup').textContent();
            check(/Not received/.test(dedup), `dedup page: ${dedup}`);
            await page.screenshot({ path: path.join(cfg.shotsDir, 'dedup.png') });
        } catch (e) {
            console.error(consoleLines.join('\n'));
            try {
                await page.screenshot({ path: path.join(cfg.workDir, 'failure.png') });
            } catch {}
            throw e;
        }
        console.log(JSON.stringify(out));
    } finally {
        if (context) await context.close();
        fs.rmSync(userDataDir, { recursive: true, force: true });
    }
}

main().catch((e) => {
    console.error(e.stack || String(e));
    process.exit(1);
});
