#!/usr/bin/env node
// Starts the reference Bluesky PDS (@atproto/pds) on 127.0.0.1 with an in-memory DID PLC
// directory (@did-plc/server's mock database) beside it, invite codes off, rate limits on.
// Usage: node start.js INSTALL_DIR [--port N] [--data DIR] [--jwt-secret S] [--rate-limits off]
//        [--admin-password P] [--stop-on-stdin-close]
// INSTALL_DIR is where `npm install` ran with this directory's package.json (it holds
// node_modules). Prints one JSON line {"pds": URL, "plc": URL} on stdout once both listen,
// and stops on SIGTERM / SIGINT (or, with --stop-on-stdin-close, when stdin closes). Nothing leaves this machine.
'use strict'
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const crypto = require('node:crypto')
const { createRequire } = require('node:module')

async function main() {
  const args = process.argv.slice(2)
  const installDir = path.resolve(args[0] || process.env.ELSHI_REAL_PDS_DIR || '.')
  const option = (name, fallback) => {
    const at = args.indexOf(name)
    return at >= 0 ? args[at + 1] : fallback
  }
  const port = Number(option('--port', '0'))
  const dataDir = option('--data', null) || fs.mkdtempSync(path.join(os.tmpdir(), 'elshi-pds-'))
  fs.mkdirSync(path.join(dataDir, 'blobs'), { recursive: true })
  const need = createRequire(path.join(installDir, 'package.json'))
  const pds = need('@atproto/pds')
  const plc = need('@did-plc/server')
  const { Secp256k1Keypair } = need('@atproto/crypto')

  const plcServer = plc.PlcServer.create({ db: plc.Database.mock(), port: 0 })
  await plcServer.start()
  const plcUrl = `http://127.0.0.1:${plcServer.server.address().port}`

  const pdsPort = port || (await freePort())
  const rotation = await Secp256k1Keypair.create({ exportable: true })
  const hex = Buffer.from(await rotation.export()).toString('hex')
  const env = {
    port: pdsPort,
    hostname: 'localhost',
    devMode: true,
    dataDirectory: dataDir,
    blobstoreDiskLocation: path.join(dataDir, 'blobs'),
    didPlcUrl: plcUrl,
    serviceHandleDomains: ['.test'],
    inviteRequired: false,
    rateLimitsEnabled: option('--rate-limits', 'on') !== 'off',
    jwtSecret: option('--jwt-secret', crypto.randomBytes(16).toString('hex')),
    adminPassword: option('--admin-password', 'admin-pass'),
    plcRotationKeyK256PrivateKeyHex: hex,
    crawlers: [],
    version: '0.0.0',
  }
  const cfg = pds.envToCfg(env)
  const secrets = pds.envToSecrets(env)
  const server = await pds.PDS.create(cfg, secrets)
  await server.start()
  process.stdout.write(
    JSON.stringify({ pds: `http://127.0.0.1:${pdsPort}`, plc: plcUrl, data: dataDir }) + '\n',
  )
  let stopping = false
  const stop = async () => {
    if (stopping) return
    stopping = true
    await server.destroy().catch(() => {})
    await plcServer.destroy().catch(() => {})
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  if (args.includes('--stop-on-stdin-close')) {
    process.stdin.on('end', stop)
    process.stdin.resume()
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = require('node:net').createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
  })
}

main().catch((err) => {
  process.stderr.write(`real PDS failed to start: ${err && err.stack ? err.stack : err}\n`)
  process.exit(1)
})
