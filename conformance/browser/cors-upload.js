// Headless Chromium as a web page's uploader: the page (served from another origin than
// fastgate) uploads with a presigned POST form and with a presigned PUT, then reads both
// objects back with presigned GETs, all cross-origin, so every answer goes through CORS.
//
//   node cors-upload.js CONFIG.json      (written by ../browser.sh)
//
// Prints one JSON object with what the page saw; browser.sh checks it against boto3.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

async function main() {
    const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
    const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fastgate-chromium-'));
    let context;
    try {
        context = await chromium.launchPersistentContext(userDataDir, {
            executablePath: '/usr/bin/chromium',
            headless: true,
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
        await page.goto(cfg.pageUrl);
        const seen = await page.evaluate(async (cfg) => {
            const hex = async (buf) =>
                Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', buf)))
                    .map((b) => b.toString(16).padStart(2, '0'))
                    .join('');
            const random = (n) => {
                const a = new Uint8Array(n);
                for (let i = 0; i < n; i += 65536) crypto.getRandomValues(a.subarray(i, Math.min(n, i + 65536)));
                return a;
            };
            const out = { origin: location.origin };

            // 1. The form upload (a "simple" request: no preflight, CORS on the answer).
            const postData = random(cfg.size);
            out.postSha256 = await hex(postData);
            const form = new FormData();
            for (const [k, v] of Object.entries(cfg.post.fields)) form.append(k, v);
            form.append('file', new Blob([postData], { type: 'application/octet-stream' }), 'post.bin');
            const pr = await fetch(cfg.post.url, { method: 'POST', body: form });
            out.postStatus = pr.status;
            out.postBody = await pr.text();
            out.postEtag = pr.headers.get('ETag');

            // 2. The presigned PUT (its Content-Type makes the browser send a preflight).
            const putData = random(cfg.size + 1);
            out.putSha256 = await hex(putData);
            const ur = await fetch(cfg.putUrl, {
                method: 'PUT',
                body: putData,
                headers: { 'Content-Type': 'application/octet-stream' },
            });
            out.putStatus = ur.status;
            out.putEtag = ur.headers.get('ETag');

            // 3. Both read back through CORS, bytes and the exposed ETag.
            for (const [name, url] of [['post', cfg.getPostUrl], ['put', cfg.getPutUrl]]) {
                const gr = await fetch(url);
                out[name + 'GetStatus'] = gr.status;
                out[name + 'GetEtag'] = gr.headers.get('ETag');
                out[name + 'GetSha256'] = await hex(await gr.arrayBuffer());
            }

            // 4. A request the rules do not allow is blocked by the browser.
            try {
                await fetch(cfg.putUrl, { method: 'DELETE' });
                out.deleteBlocked = false;
            } catch (e) {
                out.deleteBlocked = true;
            }
            return out;
        }, cfg);
        seen.console = consoleLines;
        process.stdout.write(JSON.stringify(seen) + '\n');
    } finally {
        if (context) await context.close();
        fs.rmSync(userDataDir, { recursive: true, force: true });
    }
}

main().catch((e) => {
    console.error(`cors-upload.js: ${e && e.stack ? e.stack : e}`);
    process.exit(1);
});
