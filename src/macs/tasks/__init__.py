"""macs.tasks"""
