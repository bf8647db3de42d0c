output "bucket" {
  value = google_storage_bucket.pipeline.name
}

output "data" {
  description = "Where the pipeline reads the dataset: the README copies it here with `gcloud storage rsync`."
  value       = "gs://${google_storage_bucket.pipeline.name}/data/${var.dataset}"
}

output "image" {
  description = "The pipeline image's repository (no tag): `make image` pushes it and records its digest."
  value       = "${var.region}-docker.pkg.dev/${var.project}/${google_artifact_registry_repository.images.repository_id}/simclr-tfx"
}

output "tpu_image" {
  description = "The TPU trainer image's repository (the Dockerfile's tpu target); `make image` pushes it too."
  value       = "${var.region}-docker.pkg.dev/${var.project}/${google_artifact_registry_repository.images.repository_id}/simclr-tfx-tpu"
}

output "service_account" {
  value = google_service_account.pipeline.email
}

output "tensorboard" {
  value = google_vertex_ai_tensorboard.pretraining.id
}

# Paste into your copy of pipeline/configs/vertex.yaml. The images carry no tag: `compile` runs
# the digests that `make image` recorded (infra/images.json).
output "vertex_yaml" {
  value = <<-EOT
    data: gs://${google_storage_bucket.pipeline.name}/data/${var.dataset}
    registry:
      kind: vertex
      project: ${var.project}
      region: ${var.region}
      model_root: gs://${google_storage_bucket.pipeline.name}/models
    vertex:
      project: ${var.project}
      region: ${var.region}
      pipeline_root: gs://${google_storage_bucket.pipeline.name}/pipeline-root
      image: ${var.region}-docker.pkg.dev/${var.project}/${google_artifact_registry_repository.images.repository_id}/simclr-tfx
      service_account: ${google_service_account.pipeline.email}
      tensorboard: ${google_vertex_ai_tensorboard.pretraining.id}
      dataflow:
        temp_location: gs://${google_storage_bucket.pipeline.name}/dataflow-tmp
      trainer:
        preset: tpu
        image: ${var.region}-docker.pkg.dev/${var.project}/${google_artifact_registry_repository.images.repository_id}/simclr-tfx-tpu
  EOT
}
