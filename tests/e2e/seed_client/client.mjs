// The seed's example client and webhook receiver (../shared/seeds), unchanged but for where it
// points: BASE_URL, API_KEY, the inputs and the webhook URL come from the environment, and it
// exits once its webhook has been called (the original runs forever). Then it polls the same job,
// as the seed's second flow does.
import fetch from 'node-fetch';
import express from 'express';

const API_KEY = `Bearer ${process.env.LIPSYNC_API_KEY}`;
const BASE_URL = process.env.LIPSYNC_BASE_URL;
const PORT = Number(process.env.WEBHOOK_PORT || 3000);

// Set up webhook server to receive results
const app = express();
app.use(express.json());
let jobId = null;
app.post('/webhooks/lipsync', (req, res) => {
  const { id, status, output, error, model } = req.body;
  console.log('✅ Job update received!');
  console.log('Job ID:', id);
  console.log('Model:', model);
  console.log('Status:', status);
  if (status === 'completed') {
    console.log('Video URL:', output);
  } else if (status === 'failed') {
    console.error('Error:', error);
  }
  res.status(200).json({ received: true });
  setTimeout(() => pollOnce(id).then(() => process.exit(0)), 100);
});
const server = app.listen(PORT, '127.0.0.1', () => {
  console.log(`Webhook server listening on port ${PORT}`);
  submitJobWithWebhook();
});

// Submit job with webhook
async function submitJobWithWebhook() {
  const webhookUrl = `http://127.0.0.1:${PORT}/webhooks/lipsync`;
  const res = await fetch(`${BASE_URL}/lipsync-image`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'Authorization': API_KEY
    },
    body: JSON.stringify({
      webhook: webhookUrl,
      formState: {
        image: process.env.IMAGE_URL,
        audio: process.env.AUDIO_URL,
        resolution: '720p'
      }
    })
  });
  const data = await res.json();
  jobId = data.id;
  console.log('Job submitted:', data.id);
  console.log('Submit response:', JSON.stringify(data));
  console.log('Waiting for webhook callback...');
}

// The polling flow: GET /api/v1/jobs/{requestId}
async function pollOnce(id) {
  const res = await fetch(`${BASE_URL}/jobs/${id}`, { headers: { 'Authorization': API_KEY } });
  console.log('Polled:', JSON.stringify(await res.json()));
  server.close();
}

setTimeout(() => { console.error('timed out waiting for the webhook'); process.exit(1); }, 300000);
